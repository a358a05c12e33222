// A camera frame's pixels as the page uploads them: its 8-bit 4:2:0 planes (NV12 or I420), copied
// out of the VideoFrame as they are (affine_gl.js converts them to RGB as its passes read them).

/** Whether a VideoFrame's pixels are 8-bit 4:2:0 planes whose visible part starts on a chroma
 * sample (NV12 or I420): those are copied out and uploaded as they are. */
export function hasPlanes(frame) {
  const rect = frame.visibleRect;
  return ['NV12', 'I420'].includes(frame.format) && Boolean(rect) && rect.x % 2 === 0 && rect.y % 2 === 0;
}

/** The frame's visible planes copied into `buffer` (an ArrayBuffer, grown when too small):
 * { format, width, height, layout, data, colorSpace }, colorSpace a plain object (it may cross to
 * another thread). The caller closes the frame. */
export async function copyPlanes(frame, buffer = null) {
  const size = frame.allocationSize();
  if (!buffer || buffer.byteLength < size) buffer = new ArrayBuffer(size);
  const data = new Uint8Array(buffer, 0, size);
  const layout = await frame.copyTo(data);
  const { matrix = null, fullRange = null, primaries = null, transfer = null } = frame.colorSpace ?? {};
  const { width, height } = frame.visibleRect;
  return { format: frame.format, width, height, layout, data, colorSpace: { matrix, fullRange, primaries, transfer } };
}
