-- What kind of entry a deployment's history row is: a status change (`state`), something its
-- containers did as the engine reported it (`container`), or an action taken on it (`action`).
ALTER TABLE deployment_events ADD COLUMN kind TEXT NOT NULL DEFAULT 'state';
