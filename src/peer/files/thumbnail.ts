/**
 * Pictures: their size in pixels and a small thumbnail that travels in the message, so every
 * peer shows the picture at once, before (or without) fetching it. jimp is pure JavaScript (no
 * native addon to rebuild for Electron's ABI); it decodes JPEG, PNG, GIF, BMP and TIFF. Other
 * pictures (WebP, SVG…) get their size from image-size and no thumbnail.
 */
import { readFile } from 'node:fs/promises';
import { imageSize } from 'image-size';
import { FILE_LIMITS } from '../../shared/api.js';

/** Pictures larger than this are not decoded for a thumbnail (a decode holds every pixel in memory). */
const THUMBNAIL_MAX_FILE_BYTES = 40 * 1024 * 1024;
const DECODABLE = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/bmp', 'image/tiff']);
/** Longest side of a thumbnail, then smaller until it fits the message. */
const SIDES = [320, 240, 160, 96];

export interface ImageInfo {
  width: number;
  height: number;
  thumbnail?: string;
}

/** Size and thumbnail of a picture; undefined for a file that is not one (or cannot be read as one). */
export async function describeImage(path: string, mime: string, size: number): Promise<ImageInfo | undefined> {
  if (!mime.startsWith('image/') || size > THUMBNAIL_MAX_FILE_BYTES) return undefined;
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch {
    return undefined;
  }
  if (DECODABLE.has(mime)) {
    try {
      return await thumbnailOf(bytes);
    } catch {
      // not decodable after all (a damaged file, an exotic variant): its dimensions may still be readable
    }
  }
  try {
    const { width, height } = imageSize(bytes);
    return width && height ? { width, height } : undefined;
  } catch {
    return undefined;
  }
}

async function thumbnailOf(bytes: Buffer): Promise<ImageInfo> {
  // loaded on the first picture: a peer that never sends one does not carry jimp in memory
  const { Jimp } = await import('jimp');
  const image = await Jimp.read(bytes);
  const { width, height } = image.bitmap;
  for (const side of SIDES) {
    const small = image.clone();
    if (width > side || height > side) small.scaleToFit({ w: side, h: side });
    const jpeg = await small.getBuffer('image/jpeg', { quality: 70 });
    const thumbnail = `data:image/jpeg;base64,${jpeg.toString('base64')}`;
    if (thumbnail.length <= FILE_LIMITS.thumbnailMaxChars) return { width, height, thumbnail };
  }
  return { width, height };
}
