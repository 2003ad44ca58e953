-- A queue's heights in chunks (docs/architecture.md, "Store"): a row per queue and span of
-- heights [lo, the next row's lo), holding that span's part of `enqueued` and of `done`. A commit
-- rewrites only the rows whose span it changed, so its cost follows the gaps it touched, not all
-- of the queue's gaps. Spans are chosen by the manager (manager/store/chunk-layout.ts): a queue's
-- first row starts at 0, and a row that would hold more than a few hundred ranges is split, so a
-- dense queue (0..99,999,999) is one small row and a sparse one a row per few hundred gaps.
CREATE TABLE queue_chunks (
  queue text NOT NULL REFERENCES queues (name) ON DELETE CASCADE,
  lo bigint NOT NULL,
  -- every height ever enqueued, within the span
  enqueued int8multirange NOT NULL DEFAULT '{}',
  -- heights whose success was committed, within the span; always within enqueued
  done int8multirange NOT NULL DEFAULT '{}',
  PRIMARY KEY (queue, lo)
);

-- Today's one row per queue, cut into spans: a boundary at every 256th range start of enqueued
-- and done together, the first span from 0. Every range is clipped to the spans it meets, so the
-- union of a queue's rows is exactly its sets.
CREATE TEMP TABLE migrated_spans ON COMMIT DROP AS
WITH starts AS (
  SELECT q.name AS queue, lower(r) AS s FROM queues q, unnest(q.enqueued) AS r
  UNION ALL
  SELECT q.name, lower(r) FROM queues q, unnest(q.done) AS r
),
numbered AS (
  SELECT queue, s, row_number() OVER (PARTITION BY queue ORDER BY s) - 1 AS i FROM starts
),
los AS (
  SELECT DISTINCT queue, CASE WHEN i = 0 THEN 0 ELSE s END AS lo FROM numbered WHERE i % 256 = 0
)
SELECT queue, lo, lead(lo) OVER (PARTITION BY queue ORDER BY lo) AS hi FROM los;

CREATE INDEX ON migrated_spans (queue, lo);
ANALYZE migrated_spans;

INSERT INTO queue_chunks (queue, lo, enqueued, done)
SELECT p.queue, p.lo,
  coalesce(range_agg(p.piece) FILTER (WHERE p.kind = 'e'), '{}'),
  coalesce(range_agg(p.piece) FILTER (WHERE p.kind = 'd'), '{}')
FROM (
  SELECT s.queue, sp.lo, s.kind, s.r * int8range(sp.lo, sp.hi) AS piece
  FROM (
    SELECT q.name AS queue, 'e' AS kind, r FROM queues q, unnest(q.enqueued) AS r
    UNION ALL
    SELECT q.name, 'd', r FROM queues q, unnest(q.done) AS r
  ) s
  -- the spans a range meets: from the one holding its lowest height to the last starting in it
  CROSS JOIN LATERAL (
    SELECT m.lo, m.hi FROM migrated_spans m
    WHERE m.queue = s.queue AND m.lo < upper(s.r)
      AND m.lo >= (SELECT f.lo FROM migrated_spans f WHERE f.queue = s.queue AND f.lo <= lower(s.r)
                   ORDER BY f.lo DESC LIMIT 1)
    OFFSET 0 -- kept a nested loop of index scans: O(log spans) per range, not a hash join
  ) sp
) p
GROUP BY p.queue, p.lo;

ALTER TABLE queues DROP COLUMN enqueued, DROP COLUMN done;

-- A queue's whole sets, for operators and tests; the manager reads and writes the chunks.
CREATE VIEW queue_sets AS
SELECT q.name,
  coalesce(range_agg(c.enqueued), '{}') AS enqueued,
  coalesce(range_agg(c.done), '{}') AS done
FROM queues q LEFT JOIN queue_chunks c ON c.queue = q.name
GROUP BY q.name;
