// ScreenshotEncoder: a small pool of long-lived worker threads (encode-worker.ts) that encode
// screenshots, so a 1920x1080 PNG never blocks the HTTP loop. Pixels are transferred, not copied.
import { availableParallelism } from 'node:os';
import { workerUrl } from '../../core/workers.ts';
import type { EncodeReply, EncodeRequest } from './encode-worker.ts';
import type { PixelLayout } from './png.ts';

export interface RawImage {
  /** Pixels (BGRX 4-byte aligned, or RGB); their memory is handed to the worker. */
  data: Uint8Array;
  width: number;
  height: number;
  stride: number;
  layout?: PixelLayout;
}

export interface EncodedImage {
  image: string;
  bytes: number;
  encoder: string;
}

interface Job {
  resolve(r: EncodedImage): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  busy: number;
}

export class ScreenshotEncoder {
  private readonly slots: Slot[] = [];
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;

  constructor(private readonly size = Math.max(1, Math.min(4, availableParallelism()))) {}

  /** Starts the workers now rather than on the first screenshot. */
  start(): void {
    while (this.slots.length < this.size) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const worker = new Worker(workerUrl('backends/vm/encode-worker.ts').href);
    const slot: Slot = { worker, busy: 0 };
    worker.onmessage = (ev: MessageEvent<EncodeReply>) => {
      slot.busy--;
      const job = this.jobs.get(ev.data.id);
      if (!job) return;
      this.jobs.delete(ev.data.id);
      if ('error' in ev.data) job.reject(new Error(`screenshot encoding failed: ${ev.data.error}`));
      else job.resolve(ev.data);
    };
    worker.onerror = (ev: ErrorEvent) => {
      // A crashed worker is replaced; its jobs are lost, so fail them all rather than hang.
      const at = this.slots.indexOf(slot);
      if (at >= 0) this.slots.splice(at, 1, this.spawn());
      for (const [id, job] of this.jobs) {
        this.jobs.delete(id);
        job.reject(new Error(`screenshot encoder crashed: ${ev.message}`));
      }
    };
    // Idle workers must not keep the process alive.
    worker.unref();
    return slot;
  }

  encode(
    raw: RawImage,
    format: 'png' | 'jpeg',
    options: { quality: number; level: number },
  ): Promise<EncodedImage> {
    this.start();
    const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.nextId++;
    // Transfer the pixels when they own their whole buffer; otherwise copy (small replies may
    // share a buffer with other socket data).
    let pixels = raw.data.buffer as ArrayBuffer;
    let offset = raw.data.byteOffset;
    const owned = raw.data.byteLength + offset === pixels.byteLength && offset < 64;
    if (!owned) {
      pixels = raw.data.slice().buffer as ArrayBuffer;
      offset = 0;
    }
    const req: EncodeRequest = {
      id,
      pixels,
      offset,
      width: raw.width,
      height: raw.height,
      stride: raw.stride,
      layout: raw.layout ?? 'bgrx',
      format,
      quality: options.quality,
      level: options.level,
    };
    return new Promise<EncodedImage>((resolve, reject) => {
      this.jobs.set(id, { resolve, reject });
      slot.busy++;
      slot.worker.postMessage(req, [pixels]);
    });
  }

  close(): void {
    for (const s of this.slots.splice(0)) s.worker.terminate();
    for (const job of this.jobs.values()) job.reject(new Error('screenshot encoder closed'));
    this.jobs.clear();
  }
}
