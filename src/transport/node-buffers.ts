/**
 * Where Node processes get the bytes of frames and JSON payloads: Buffer's
 * pool, which makes the many small, short-lived ones cheap to allocate. The
 * codec and the JSON helpers are isomorphic and default to plain typed
 * arrays; importing this module (every Node transport does) switches them.
 */
import { setFrameAllocator } from '../protocol/codec.js';
import { setUtf8Encoder } from '../protocol/json.js';

setFrameAllocator((size) => Buffer.allocUnsafe(size));
setUtf8Encoder((text) => Buffer.from(text, 'utf8'));
