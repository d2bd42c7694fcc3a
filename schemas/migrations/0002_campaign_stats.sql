-- Campaign statistics, maintained by materialized views from `events`. Counters are
-- `sumState` and approximate uniques `uniqState` in AggregatingMergeTree tables; read them with
-- `sumMerge` / `uniqMerge` (never a plain `sum` of the state columns).
-- Uniques count subscriber keys, so anonymous rows (key '') never count as a unique.

CREATE TABLE IF NOT EXISTS campaign_hourly
(
    tenant String,
    campaign String,
    hour DateTime('UTC'),
    opens AggregateFunction(sum, UInt64),
    opens_machine AggregateFunction(sum, UInt64),
    clicks AggregateFunction(sum, UInt64),
    clicks_machine AggregateFunction(sum, UInt64),
    unsubscribes AggregateFunction(sum, UInt64),
    openers AggregateFunction(uniq, String),
    openers_human AggregateFunction(uniq, String),
    clickers AggregateFunction(uniq, String),
    clickers_human AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant, campaign, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS campaign_hourly_mv TO campaign_hourly AS
SELECT
    tenant,
    campaign,
    toStartOfHour(ts) AS hour,
    sumState(toUInt64(kind = 'open')) AS opens,
    sumState(toUInt64(kind = 'open' AND machine = 1)) AS opens_machine,
    sumState(toUInt64(kind = 'click')) AS clicks,
    sumState(toUInt64(kind = 'click' AND machine = 1)) AS clicks_machine,
    sumState(toUInt64(kind = 'unsubscribe')) AS unsubscribes,
    uniqStateIf(subscriber_key, kind = 'open' AND subscriber_key != '') AS openers,
    uniqStateIf(subscriber_key, kind = 'open' AND machine = 0 AND subscriber_key != '') AS openers_human,
    uniqStateIf(subscriber_key, kind = 'click' AND subscriber_key != '') AS clickers,
    uniqStateIf(subscriber_key, kind = 'click' AND machine = 0 AND subscriber_key != '') AS clickers_human
FROM events
GROUP BY tenant, campaign, hour;

CREATE TABLE IF NOT EXISTS campaign_daily
(
    tenant String,
    campaign String,
    day Date,
    opens AggregateFunction(sum, UInt64),
    opens_machine AggregateFunction(sum, UInt64),
    clicks AggregateFunction(sum, UInt64),
    clicks_machine AggregateFunction(sum, UInt64),
    unsubscribes AggregateFunction(sum, UInt64),
    openers AggregateFunction(uniq, String),
    openers_human AggregateFunction(uniq, String),
    clickers AggregateFunction(uniq, String),
    clickers_human AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant, campaign, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS campaign_daily_mv TO campaign_daily AS
SELECT
    tenant,
    campaign,
    toDate(ts) AS day,
    sumState(toUInt64(kind = 'open')) AS opens,
    sumState(toUInt64(kind = 'open' AND machine = 1)) AS opens_machine,
    sumState(toUInt64(kind = 'click')) AS clicks,
    sumState(toUInt64(kind = 'click' AND machine = 1)) AS clicks_machine,
    sumState(toUInt64(kind = 'unsubscribe')) AS unsubscribes,
    uniqStateIf(subscriber_key, kind = 'open' AND subscriber_key != '') AS openers,
    uniqStateIf(subscriber_key, kind = 'open' AND machine = 0 AND subscriber_key != '') AS openers_human,
    uniqStateIf(subscriber_key, kind = 'click' AND subscriber_key != '') AS clickers,
    uniqStateIf(subscriber_key, kind = 'click' AND machine = 0 AND subscriber_key != '') AS clickers_human
FROM events
GROUP BY tenant, campaign, day;

-- Clicks per link per day. Rows stored at tracking level `off` carry no link and are left out.
CREATE TABLE IF NOT EXISTS link_daily
(
    tenant String,
    campaign String,
    link String,
    day Date,
    url AggregateFunction(anyLast, String),
    clicks AggregateFunction(sum, UInt64),
    clicks_machine AggregateFunction(sum, UInt64),
    clickers AggregateFunction(uniq, String),
    clickers_human AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant, campaign, link, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS link_daily_mv TO link_daily AS
SELECT
    tenant,
    campaign,
    link,
    toDate(ts) AS day,
    anyLastState(url) AS url,
    sumState(toUInt64(1)) AS clicks,
    sumState(toUInt64(machine = 1)) AS clicks_machine,
    uniqStateIf(subscriber_key, subscriber_key != '') AS clickers,
    uniqStateIf(subscriber_key, machine = 0 AND subscriber_key != '') AS clickers_human
FROM events
WHERE kind = 'click' AND link != ''
GROUP BY tenant, campaign, link, day;

-- Opens and clicks per value of one dimension (country, email client, device, OS, browser,
-- network class) per day: one table and one view instead of six. '' is "unknown".
CREATE TABLE IF NOT EXISTS campaign_breakdown
(
    tenant String,
    campaign String,
    dimension String,
    value String,
    day Date,
    opens AggregateFunction(sum, UInt64),
    opens_machine AggregateFunction(sum, UInt64),
    clicks AggregateFunction(sum, UInt64),
    clicks_machine AggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant, campaign, dimension, value, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS campaign_breakdown_mv TO campaign_breakdown AS
SELECT
    tenant,
    campaign,
    dim.1 AS dimension,
    dim.2 AS value,
    toDate(ts) AS day,
    sumState(toUInt64(kind = 'open')) AS opens,
    sumState(toUInt64(kind = 'open' AND machine = 1)) AS opens_machine,
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
