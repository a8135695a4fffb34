// PNG encoding of an X screenshot (32-bit B, G, R, pad pixels) with node:zlib: no native image
// library needed, and fast on desktop pictures (large flat areas) with the Up filter and a low
// deflate level. Runs in the encoder worker, never on the HTTP loop.
import { constants, crc32, deflateSync } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/**
 * Scanlines of 8-bit RGB from BGRX pixels, each prefixed with PNG filter 2 (Up): identical rows
 * become zeros, which deflate squeezes to almost nothing.
 */
export function bgrxToUpFilteredRgb(
  src: Uint8Array,
  width: number,
  height: number,
  stride: number,
): Buffer {
  const rowBytes = width * 3;
  const out = Buffer.allocUnsafe((rowBytes + 1) * height);
  let o = 0;
  for (let y = 0; y < height; y++) {
    out[o++] = 2;
    const row = y * stride;
    const prev = row - stride;
    if (y === 0) {
      for (let x = 0, s = row; x < width; x++, s += 4) {
        out[o++] = src[s + 2]!;
        out[o++] = src[s + 1]!;
        out[o++] = src[s]!;
      }
    } else {
      for (let x = 0, s = row, p = prev; x < width; x++, s += 4, p += 4) {
        out[o++] = (src[s + 2]! - src[p + 2]!) & 0xff;
        out[o++] = (src[s + 1]! - src[p + 1]!) & 0xff;
        out[o++] = (src[s]! - src[p]!) & 0xff;
      }
    }
  }
  return out;
}

/** A PNG (8-bit RGB) of BGRX pixels; `level` is the deflate level (1 fast .. 9 small). */
export function encodePng(
  src: Uint8Array,
  width: number,
  height: number,
  stride: number,
  level = 1,
): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: RGB
  const raw = bgrxToUpFilteredRgb(src, width, height, stride);
  const compressed = deflateSync(raw, { level, strategy: constants.Z_DEFAULT_STRATEGY });
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', header),
    chunk('IDAT', compressed),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
