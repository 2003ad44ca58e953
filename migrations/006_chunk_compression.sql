-- A sparse queue's queue_chunks rows hold a few hundred ranges per set, several kilobytes, and
-- a drain rewrites them commit after commit: compressing them with lz4 instead of the default
-- pglz costs a fraction of the CPU. Only servers built with lz4 support it; the others (the
-- embedded database among them) keep pglz. New values take the method; rows already there keep
-- theirs until rewritten.
DO $$
BEGIN
  ALTER TABLE queue_chunks
    ALTER COLUMN enqueued SET COMPRESSION lz4,
    ALTER COLUMN done SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  RAISE NOTICE 'lz4 is not supported by this server: queue_chunks keeps pglz';
END
$$;
