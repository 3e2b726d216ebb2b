-- The search index. Idempotent: safe to apply any number of times (`python -m function_app.cli migrate`).
-- Every row belongs to one bundle version; search reads only the rows of the active bundle, so a refit
-- writes a complete new version beside the old one and the switch is the bundle's CURRENT pointer.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE IF NOT EXISTS images (
    bundle_version text        NOT NULL,
    image_id       text        NOT NULL,  -- stable identity of the source image (location + name + etag)
    name           text        NOT NULL,  -- blob name or path relative to the images folder
    caption        text        NOT NULL,
    alternatives   text        NOT NULL DEFAULT '',  -- the captioner's other beam captions, one per line
    embedding      vector      NOT NULL,  -- the catalog embedding in the bundle's reduced space, unit length
    cluster_id     integer     NOT NULL,
    captioner      text        NOT NULL DEFAULT '',  -- checkpoint that wrote the caption
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bundle_version, image_id)
);

CREATE INDEX IF NOT EXISTS images_cluster_idx ON images (bundle_version, cluster_id);
-- Hybrid ranking (function_app/ranking.py) re-ranks the semantic candidates by the full-text rank of
-- all of an image's captions, parsed at query time: a stored tsvector with a GIN index cut COPY from
-- 89k to 24k rows/s, and only ~50 rows per query are ever ranked (docs/benchmarks.md).
ALTER TABLE images ADD COLUMN IF NOT EXISTS alternatives text NOT NULL DEFAULT '';
-- The image's tags (indexing/tagging/) as [[word, confidence], ...], names before generic words (core/tags.py);
-- their words join the captions in the full-text match.
ALTER TABLE images ADD COLUMN IF NOT EXISTS tags jsonb NOT NULL DEFAULT '[]';
-- When the picture was taken (indexing/taken.py): EXIF DateTimeOriginal, else the file's or blob's
-- modification time, as `taken_from` says ('exif' or 'modified'; '' and NULL: indexed before this).
-- Search filters and sorts on it (function_app/filters.py).
ALTER TABLE images ADD COLUMN IF NOT EXISTS taken timestamptz;
ALTER TABLE images ADD COLUMN IF NOT EXISTS taken_from text NOT NULL DEFAULT '';
-- The words the optional OCR stage read in the picture (indexing/ocr.py, INDEX_OCR), space-separated.
ALTER TABLE images ADD COLUMN IF NOT EXISTS text_in_picture text NOT NULL DEFAULT '';
-- The picture's pooled backbone features reduced by the bundle's visual PCA, unit length: what search by
-- picture ranks by cosine (docs/picture_search.md). NULL: indexed before this, or a bundle without one.
ALTER TABLE images ADD COLUMN IF NOT EXISTS visual vector;
-- One stored text of all of an image's words, parsed at query time, was tried and was no faster than
-- parsing captions and tags' jsonb (docs/tags.md "latency"); the column is gone.
ALTER TABLE images DROP COLUMN IF EXISTS search_text;

CREATE TABLE IF NOT EXISTS clusters (
    bundle_version text    NOT NULL,
    cluster_id     integer NOT NULL,
    centroid       vector  NOT NULL,
    size           integer NOT NULL DEFAULT 0,
    PRIMARY KEY (bundle_version, cluster_id)
);

-- The catalog: one row per source image that has been captioned, whatever bundle is active. It keeps
-- the full-dimension caption embedding, so a refit re-fits PCA/K-means without captioning again, and
-- a resumed run skips what it already holds. The per-version `images` rows are derived from it.
CREATE TABLE IF NOT EXISTS catalog (
    image_id   text        PRIMARY KEY,  -- image_identity(location, name, etag)
    location   text        NOT NULL,     -- the image store, e.g. blob:<account>/<container>
    name       text        NOT NULL,
    etag       text        NOT NULL,
    caption    text        NOT NULL,
    alternatives text      NOT NULL DEFAULT '',  -- the captioner's other beam captions, one per line
    score      real        NOT NULL,     -- the captioner's length-normalised log-probability
    captioner  text        NOT NULL,     -- checkpoint that wrote the caption
    encoder    text        NOT NULL,     -- sentence encoder that embedded it
    embedding  vector      NOT NULL,     -- full-dimension embedding: the captions' mean mixed with the tags', unit length
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE catalog ADD COLUMN IF NOT EXISTS alternatives text NOT NULL DEFAULT '';
ALTER TABLE catalog ADD COLUMN IF NOT EXISTS tags jsonb NOT NULL DEFAULT '[]';  -- as images.tags
ALTER TABLE catalog ADD COLUMN IF NOT EXISTS taken timestamptz;  -- as images.taken
ALTER TABLE catalog ADD COLUMN IF NOT EXISTS taken_from text NOT NULL DEFAULT '';
ALTER TABLE catalog ADD COLUMN IF NOT EXISTS text_in_picture text NOT NULL DEFAULT '';  -- as images'
-- The backbone's pooled features at full dimension, so a refit fits the visual PCA again; NULL: older row.
ALTER TABLE catalog ADD COLUMN IF NOT EXISTS visual vector;

CREATE INDEX IF NOT EXISTS catalog_location_idx ON catalog (location, name);
-- No query read the catalog's full-text GIN index, and every catalog merge paid to maintain it; search
-- ranks the `images` rows' captions at query time instead (see the images table above).
DROP INDEX IF EXISTS catalog_caption_fts_idx;

-- Images that can never be indexed as they are (corrupt, not an image, too large), so later runs skip
-- them without reading them again. A changed file has a new image_id and is tried again.
CREATE TABLE IF NOT EXISTS skipped (
    image_id   text        PRIMARY KEY,
    location   text        NOT NULL,
    name       text        NOT NULL,
    reason     text        NOT NULL,
    detail     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS skipped_location_idx ON skipped (location);

-- What a run listed, so images gone from the source can be found without holding the listing in memory.
CREATE UNLOGGED TABLE IF NOT EXISTS listing (
    run_id   text NOT NULL,
    image_id text NOT NULL,
    PRIMARY KEY (run_id, image_id)
);
