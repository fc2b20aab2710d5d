-- 0001_bus.sql: the message-bus tables every service shares.
-- outbox: events written in the same transaction as the state they describe; the relay
--   (taskbus-relay) publishes unpublished rows in id order and then sets published_at.
-- kafka_consumer_offsets: the next offset per (group, topic, partition), written in the
--   same transaction as a consumer's effects (shared/kafka_consumer.c).
-- Migrations are append-only: never edit this file once applied; add a new one.

CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    topic        text NOT NULL,
    key          text NOT NULL,
    payload      jsonb NOT NULL,
    headers      jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);

-- The relay scans only what is still to publish; published rows stay out of this index.
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE kafka_consumer_offsets (
    group_id    text NOT NULL,
    topic       text NOT NULL,
    partition   int NOT NULL,
    next_offset bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);
