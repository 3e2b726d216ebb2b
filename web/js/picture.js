// Search by picture: a picture dropped on the search box or pasted into it becomes the query, shown in
// the box as a thumbnail with a way to clear it. The server reads it (POST /api/search/image).

/** What the server accepts (core/pictures.py); anything else is refused here with the same words. */
export const PICTURE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"];
export const MAX_PICTURE_BYTES = 8 * 1024 * 1024;

/** Why file cannot be searched with, in words a person can read; "" when it can. */
export function pictureProblem(file) {
  if (file.type === "image/svg+xml") return "SVG pictures are not accepted: use a PNG, JPEG, GIF, WebP or BMP image.";
  if (!PICTURE_TYPES.includes(file.type)) {
    return `“${file.name || "That file"}” is not a picture this search can read: use a PNG, JPEG, GIF, WebP or BMP image.`;
  }
  if (file.size === 0) return `“${file.name || "The picture"}” is empty.`;
  if (file.size > MAX_PICTURE_BYTES) {
    const megabytes = (file.size / (1024 * 1024)).toFixed(1);
    return `“${file.name || "The picture"}” is ${megabytes} MB; the limit is 8 MB.`;
  }
  return "";
}

function firstFile(items) {
  for (const item of items ?? []) {
    const file = item instanceof File ? item : item.kind === "file" ? item.getAsFile() : null;
    if (file) return file;
  }
  return null;
}

/**
 * Makes form (the search box) take pictures. onPicture(file) is called for an acceptable picture,
 * onRefused(message) for any other dropped or pasted file; chip (#picture-query) shows the picture
 * and its clear button calls onClear(). Returns {show(file), clear()}.
 */
export function createPictureQuery(form, chip, { onPicture, onRefused, onClear }) {
  const thumb = chip.querySelector("img");
  const label = chip.querySelector(".picture-query-name");

  function take(file) {
    if (!file) return false;
    const problem = pictureProblem(file);
    if (problem) onRefused(problem);
    else onPicture(file);
    return true;
  }

  form.addEventListener("dragover", (event) => {
    if (![...(event.dataTransfer?.types ?? [])].includes("Files")) return;
    event.preventDefault(); // allow the drop
    form.classList.add("picture-drop");
  });
  form.addEventListener("dragleave", () => form.classList.remove("picture-drop"));
  form.addEventListener("drop", (event) => {
    form.classList.remove("picture-drop");
    const file = firstFile(event.dataTransfer?.files);
    if (file) event.preventDefault();
    take(file);
  });
  form.addEventListener("paste", (event) => {
    // Text pastes into the box as usual; only a pasted file (a copied picture) becomes the query.
    if (take(firstFile(event.clipboardData?.items))) event.preventDefault();
  });
  chip.querySelector(".picture-query-clear").addEventListener("click", () => onClear());

  function show(file) {
    // A data: URL, since the page's Content-Security-Policy allows data: images and not blob: ones.
    const reader = new FileReader();
    reader.addEventListener("load", () => {
      thumb.src = String(reader.result);
    });
    reader.readAsDataURL(file);
    thumb.alt = `Your picture: ${file.name || "pasted picture"}`;
    label.textContent = file.name || "pasted picture";
    chip.hidden = false;
    form.classList.add("has-picture");
  }

  function clear() {
    chip.hidden = true;
    thumb.removeAttribute("src");
    label.textContent = "";
    form.classList.remove("has-picture");
  }

  return { show, clear };
}
