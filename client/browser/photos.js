// Photos decoded as the Python reference reads them (mvstylizer_common.imagecodec, through OpenCV):
// their pixel values taken as sRGB, any colour profile they carry ignored. The browser would
// otherwise convert a tagged photo (Display P3 from a phone, Adobe RGB from a camera) to the
// display's colours, and the page's style would differ from the one the stylizer and the Python
// tiers read from the same file (rocket.jpg, tagged Adobe RGB: 8 levels of red in the page's look).

/** An ImageBitmap of the photo (a Blob or File), its pixel values as stored. */
export function decodePhoto(blob) {
  // Turned by its EXIF orientation, as OpenCV's imdecode turns it.
  return createImageBitmap(blob, { colorSpaceConversion: 'none', imageOrientation: 'from-image' });
}
