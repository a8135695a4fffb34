// Screenshot encoder worker: turns raw X pixels (BGRX) into a base64 PNG or JPEG off the HTTP
// loop. PNG is our own (png.ts, node:zlib); JPEG uses sharp (libjpeg-turbo) when it loads, else
// the pure-JS jpeg-js (slower, but works inside a compiled single-file binary).
import { bgrxToRgb, encodePng, type PixelLayout } from './png.ts';

export interface EncodeRequest {
  id: number;
  pixels: ArrayBuffer;
  offset: number;
  width: number;
  height: number;
  stride: number;
  layout: PixelLayout;
  format: 'png' | 'jpeg';
  /** JPEG quality 1-100. */
  quality: number;
  /** PNG deflate level 1-9. */
  level: number;
}

export type EncodeReply =
  { id: number; image: string; bytes: number; encoder: string } | { id: number; error: string };

declare const self: Worker;

type JpegEncoder = {
  name: string;
  encode(rgb: Buffer, width: number, height: number, quality: number): Promise<Uint8Array>;
};

let jpeg: Promise<JpegEncoder> | undefined;

async function loadJpeg(): Promise<JpegEncoder> {
  try {
    const sharp = (await import('sharp')).default;
    return {
      name: 'sharp',
      encode: (rgb, width, height, quality) =>
        sharp(rgb, { raw: { width, height, channels: 3 } })
          .jpeg({ quality })
          .toBuffer(),
    };
  } catch {
    const jpegJs = (await import('jpeg-js')).default;
    return {
      name: 'jpeg-js',
      async encode(rgb, width, height, quality) {
        const rgba = Buffer.allocUnsafe(width * height * 4);
        for (let i = 0, o = 0; i < rgb.length; i += 3, o += 4) {
          rgba[o] = rgb[i]!;
          rgba[o + 1] = rgb[i + 1]!;
          rgba[o + 2] = rgb[i + 2]!;
          rgba[o + 3] = 255;
        }
        return jpegJs.encode({ data: rgba, width, height }, quality).data;
      },
    };
  }
}

async function encode(req: EncodeRequest): Promise<EncodeReply> {
  const src = new Uint8Array(req.pixels, req.offset, req.stride * req.height);
  if (req.format === 'png') {
    const png = encodePng(src, req.width, req.height, req.stride, req.level, req.layout);
    return { id: req.id, image: png.toString('base64'), bytes: png.length, encoder: 'png' };
  }
  const encoder = await (jpeg ??= loadJpeg());
  const rgb =
    req.layout === 'rgb'
      ? Buffer.from(src.buffer, src.byteOffset, src.byteLength)
      : bgrxToRgb(src, req.width, req.height, req.stride);
  const out = await encoder.encode(rgb, req.width, req.height, req.quality);
  const image = Buffer.from(out.buffer, out.byteOffset, out.byteLength).toString('base64');
  return { id: req.id, image, bytes: out.byteLength, encoder: encoder.name };
}

self.onmessage = async (ev: MessageEvent<EncodeRequest>) => {
  let reply: EncodeReply;
  try {
    reply = await encode(ev.data);
  } catch (err) {
    reply = { id: ev.data.id, error: err instanceof Error ? err.message : String(err) };
  }
  self.postMessage(reply);
};
