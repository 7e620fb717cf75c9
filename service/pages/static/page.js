// Click-to-predict: a click on a decision-boundary picture becomes the point (x1, x2)
// it shows (the plane's box and range come from the picture's moonserve:plane chunk,
// see trainer/plot_geometry.py), which is sent to the model's predict URL.
"use strict";

function pointAt(image, plane, event) {
  const bounds = image.getBoundingClientRect();
  const fx = (event.clientX - bounds.left) / bounds.width;
  const fy = 1 - (event.clientY - bounds.top) / bounds.height;
  const [left, bottom, width, height] = plane.box;
  const u = (fx - left) / width, v = (fy - bottom) / height;
  if (u < 0 || u > 1 || v < 0 || v > 1) return null;
  return [plane.x1[0] + u * (plane.x1[1] - plane.x1[0]), plane.x2[0] + v * (plane.x2[1] - plane.x2[0])];
}

async function predictAt(image, result, point) {
  const shown = point.map((value) => value.toFixed(3)).join(", ");
  result.className = "result";
  result.textContent = `(${shown}): predicting\u2026`;
  try {
    const response = await fetch(image.dataset.predict, {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({instances: [point]}),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error && answer.error.message || response.statusText);
    const {label, probability} = answer.predictions[0];
    result.className = `result label-${label}`;
    result.dataset.label = label;
    result.textContent = `(${shown}): label ${label}, P(label = 1) = ${probability.toFixed(4)}`;
  } catch (error) {
    result.className = "result error";
    result.textContent = `(${shown}): ${error.message}`;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const image of document.querySelectorAll("img.plot[data-plane]")) {
    const plane = JSON.parse(image.dataset.plane);
    const result = image.parentElement.querySelector(".result");
    image.addEventListener("click", (event) => {
      const point = pointAt(image, plane, event);
      if (point === null) {
        result.className = "result";
        result.textContent = "That is outside the plane: click inside the axes.";
        return;
      }
      predictAt(image, result, point);
    });
  }
});
