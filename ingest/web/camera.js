// The webcam: each frame drawn on a 640x480 canvas (letterboxed, as the server expects) and
// encoded as JPEG with canvas.toBlob.

export const WIDTH = 640;
export const HEIGHT = 480;
const MIN_QUALITY = 0.3;

// Start the camera and play it into the (hidden) video element.
export async function openCamera(video) {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error("this page cannot use a camera here");
  }
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { width: { ideal: WIDTH }, height: { ideal: HEIGHT } },
    audio: false,
  });
  video.srcObject = stream;
  await video.play();
  return stream;
}

// Draw the current camera picture on the canvas, scaled to fit with black bars.
export function draw(video, canvas) {
  const context = canvas.getContext("2d");
  const scale = Math.min(WIDTH / video.videoWidth, HEIGHT / video.videoHeight);
  const width = Math.round(video.videoWidth * scale);
  const height = Math.round(video.videoHeight * scale);
  context.fillStyle = "#000";
  context.fillRect(0, 0, WIDTH, HEIGHT);
  context.drawImage(video, (WIDTH - width) / 2, (HEIGHT - height) / 2, width, height);
}

function toJpeg(canvas, quality) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("JPEG encoding failed"))),
      "image/jpeg", quality);
  });
}

// One frame as JPEG bytes no larger than maxBytes: lowers the quality until it fits.
// Returns { bytes, quality } (the quality to start from next time), or null when the camera
// has no picture yet or even the lowest quality is too large.
export async function captureJpeg(video, canvas, quality, maxBytes) {
  if (video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA || !video.videoWidth) return null;
  draw(video, canvas);
  for (let q = quality; q >= MIN_QUALITY - 1e-9; q -= 0.1) {
    const blob = await toJpeg(canvas, q);
    if (blob.size <= maxBytes) return { bytes: await blob.arrayBuffer(), quality: q };
  }
  return null;
}
