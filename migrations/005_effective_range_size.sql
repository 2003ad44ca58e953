-- A queue's effective range size (docs/api.md, "Queue settings"): after a worker's node refused
-- ranges as too large, the size the queue fell back to and has grown back to since, so that a
-- restarted manager does not ask the node its refused size again. NULL: the queue's range_size.
-- Cleared when an operator sets another range_size.
ALTER TABLE queue_settings ADD COLUMN effective_range_size integer;
