-- The senders' toolkit puts two pixels in a message: `/o/TOKEN` right after `<body>` (Gmail's
-- clipping of long messages cannot hide it) and `/o/TOKEN.gif?at=end` before `</body>`. A
-- client that renders the whole message fetches both, which counted two opens. The edge now
-- marks the bottom one (`end_pixel = 1`): it still counts as an opener (a clipped message's
-- reader may only reach the end once), but open totals count `end_pixel = 0` only.
--
-- `ADD COLUMN IF NOT EXISTS` is not ClickHouse 18.16 syntax: `mailpulse migrate` skips this
-- statement when the column is there and sends it without `IF NOT EXISTS` otherwise
-- (`crates/store/src/migrate.rs`). Rows stored before this migration read as 0.
ALTER TABLE events ADD COLUMN IF NOT EXISTS end_pixel UInt8 DEFAULT 0 AFTER gpc;

-- The views that count open totals are recreated with the new condition (a materialized view's
-- query cannot be altered on 18.16). Batches inserted between a DROP and its CREATE (the
-- migration takes milliseconds) miss that view: run `migrate` with the aggregators stopped.
-- Aggregates already stored keep their counts.
DROP TABLE IF EXISTS campaign_hourly_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS campaign_hourly_mv TO campaign_hourly AS
SELECT
    tenant,
    campaign,
    toStartOfHour(ts) AS hour,
    sumState(toUInt64(kind = 'open' AND end_pixel = 0)) AS opens,
    sumState(toUInt64(kind = 'open' AND end_pixel = 0 AND machine = 1)) AS opens_machine,
    sumState(toUInt64(kind = 'click')) AS clicks,
    sumState(toUInt64(kind = 'click' AND machine = 1)) AS clicks_machine,
    sumState(toUInt64(kind = 'unsubscribe')) AS unsubscribes,
    uniqStateIf(subscriber_key, kind = 'open' AND subscriber_key != '') AS openers,
    uniqStateIf(subscriber_key, kind = 'open' AND machine = 0 AND subscriber_key != '') AS openers_human,
    uniqStateIf(subscriber_key, kind = 'click' AND subscriber_key != '') AS clickers,
    uniqStateIf(subscriber_key, kind = 'click' AND machine = 0 AND subscriber_key != '') AS clickers_human
FROM events
GROUP BY tenant, campaign, hour;

DROP TABLE IF EXISTS campaign_daily_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS campaign_daily_mv TO campaign_daily AS
SELECT
    tenant,
    campaign,
    toDate(ts) AS day,
    sumState(toUInt64(kind = 'open' AND end_pixel = 0)) AS opens,
    sumState(toUInt64(kind = 'open' AND end_pixel = 0 AND machine = 1)) AS opens_machine,
    sumState(toUInt64(kind = 'click')) AS clicks,
    sumState(toUInt64(kind = 'click' AND machine = 1)) AS clicks_machine,
    sumState(toUInt64(kind = 'unsubscribe')) AS unsubscribes,
    uniqStateIf(subscriber_key, kind = 'open' AND subscriber_key != '') AS openers,
    uniqStateIf(subscriber_key, kind = 'open' AND machine = 0 AND subscriber_key != '') AS openers_human,
    uniqStateIf(subscriber_key, kind = 'click' AND subscriber_key != '') AS clickers,
    uniqStateIf(subscriber_key, kind = 'click' AND machine = 0 AND subscriber_key != '') AS clickers_human
FROM events
GROUP BY tenant, campaign, day;

DROP TABLE IF EXISTS campaign_breakdown_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS campaign_breakdown_mv TO campaign_breakdown AS
SELECT
    tenant,
    campaign,
    dim.1 AS dimension,
    dim.2 AS value,
    toDate(ts) AS day,
    sumState(toUInt64(kind = 'open' AND end_pixel = 0)) AS opens,
    sumState(toUInt64(kind = 'open' AND end_pixel = 0 AND machine = 1)) AS opens_machine,
    sumState(toUInt64(kind = 'click')) AS clicks,
    sumState(toUInt64(kind = 'click' AND machine = 1)) AS clicks_machine
FROM events
ARRAY JOIN [
    ('country', country),
    ('email_client', email_client),
    ('device', device),
    ('os', os),
    ('browser', browser),
    ('network', network_class)
] AS dim
WHERE kind IN ('open', 'click')
GROUP BY tenant, campaign, dimension, value, day;
