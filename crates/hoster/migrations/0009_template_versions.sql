-- Templates with one creator and slug are versions of one product; a creator may deprecate a
-- published version (no new deployments of it; existing ones are offered an upgrade).
ALTER TABLE templates ADD COLUMN deprecated_at TEXT;
ALTER TABLE templates ADD COLUMN deprecation_message TEXT;
CREATE INDEX templates_by_product ON templates (creator_id, slug);
