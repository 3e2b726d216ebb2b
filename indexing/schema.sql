-- The search index. Idempotent: safe to apply any number of times (`python -m function_app.cli migrate`).
-- Every row belongs to one bundle version; search reads only the rows of the active bundle, so a refit
-- writes a complete new version beside the old one and the switch is the bundle's CURRENT pointer.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE IF NOT EXISTS images (
    bundle_version text        NOT NULL,
    image_id       text        NOT NULL,  -- stable identity of the source image (location + name + etag)
    name           text        NOT NULL,  -- blob name or path relative to the images folder
    caption        text        NOT NULL,
    embedding      vector      NOT NULL,  -- caption embedding in the bundle's reduced space, unit length
    cluster_id     integer     NOT NULL,
    captioner      text        NOT NULL DEFAULT '',  -- checkpoint that wrote the caption
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bundle_version, image_id)
);

CREATE INDEX IF NOT EXISTS images_cluster_idx ON images (bundle_version, cluster_id);

CREATE TABLE IF NOT EXISTS clusters (
    bundle_version text    NOT NULL,
    cluster_id     integer NOT NULL,
    centroid       vector  NOT NULL,
    size           integer NOT NULL DEFAULT 0,
    PRIMARY KEY (bundle_version, cluster_id)
);
