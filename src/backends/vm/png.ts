// PNG encoding of an X screenshot (32-bit B, G, R, pad pixels) with node:zlib: no native image
// library needed, and fast on desktop pictures. Runs in the encoder worker, never on the HTTP loop.
// A BGRX source must be 4-byte aligned (it is: an X reply's data starts 32 bytes in).
import { crc32, deflateSync } from 'node:zlib';

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
 * PNG scanlines (8-bit RGB, one filter byte each) from BGRX pixels. A row equal to the one above
 * gets filter 2 (Up) and becomes zeros, which deflate squeezes to nothing; other rows are stored
 * unfiltered. Desktop pictures are mostly repeated rows, so this is fast and compresses well.
 */
export function scanlines(
  src: Uint8Array,
  width: number,
  height: number,
  stride: number,
  layout: PixelLayout = 'bgrx',
): Buffer {
  const rowBytes = width * 3;
  const out = Buffer.allocUnsafe((rowBytes + 1) * height);
  const bytes = Buffer.from(src.buffer, src.byteOffset, src.byteLength);
  // Whole pixels at once: B | G << 8 | R << 16 on a little-endian machine.
  const pixels =
    layout === 'bgrx' ? new Uint32Array(src.buffer, src.byteOffset, src.byteLength >> 2) : null;
  let o = 0;
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    if (y > 0 && bytes.compare(bytes, row - stride, row, row, row + stride) === 0) {
      out[o++] = 2;
      out.fill(0, o, o + rowBytes);
      o += rowBytes;
      continue;
    }
    out[o++] = 0;
    if (layout === 'rgb') {
      bytes.copy(out, o, row, row + rowBytes);
      o += rowBytes;
      continue;
    }
    for (let p = row >> 2, end = p + width; p < end; p++) {
      const v = pixels![p]!;
      out[o] = v >> 16;
      out[o + 1] = v >> 8;
      out[o + 2] = v;
      o += 3;
    }
  }
  return out;
}

/** 8-bit RGB from BGRX pixels (what JPEG encoders take). */
export function bgrxToRgb(src: Uint8Array, width: number, height: number, stride: number): Buffer {
  const out = Buffer.allocUnsafe(width * height * 3);
  const pixels = new Uint32Array(src.buffer, src.byteOffset, src.byteLength >> 2);
  let o = 0;
  for (let y = 0; y < height; y++) {
    for (let p = (y * stride) >> 2, end = p + width; p < end; p++) {
      const v = pixels[p]!;
      out[o] = v >> 16;
      out[o + 1] = v >> 8;
      out[o + 2] = v;
      o += 3;
    }
  }
  return out;
}

/** How pixels arrive: X's 32-bit B, G, R, pad, or QEMU's packed R, G, B (a PPM screendump). */
export type PixelLayout = 'bgrx' | 'rgb';

/** A PNG (8-bit RGB); `level` is the deflate level (1 fast .. 9 small). */
export function encodePng(
  src: Uint8Array,
  width: number,
  height: number,
  stride: number,
  level = 3,
  layout: PixelLayout = 'bgrx',
): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: RGB
  const compressed = deflateSync(scanlines(src, width, height, stride, layout), { level });
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', header),
    chunk('IDAT', compressed),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
