-- Views for BI tools (Grafana, Metabase, Superset …): plain columns over the aggregate tables,
-- so a dashboard author never touches `…State` columns or needs the *Merge functions.
-- They read the aggregates only (never `events`) and are not tenant-scoped: grant them to
-- operators, or put a row policy on them. Filter on `tenant` and `campaign` in the query
-- (current ClickHouse pushes the filter into the view; 18.16 aggregates first, then filters).
-- Uniques marked `_approx` are `uniq` estimates (exact for small counts, ~1 % error beyond);
-- exact campaign uniques are in `v_campaign_uniques`.

CREATE VIEW IF NOT EXISTS v_campaign_summary AS
SELECT
    tenant,
    campaign,
    min(day) AS first_day,
    max(day) AS last_day,
    sumMerge(opens) AS opens_total,
    sumMerge(opens_machine) AS opens_machine,
    opens_total - opens_machine AS opens_human,
    sumMerge(clicks) AS clicks_total,
    sumMerge(clicks_machine) AS clicks_machine,
    clicks_total - clicks_machine AS clicks_human,
    sumMerge(unsubscribes) AS unsubscribes,
    uniqMerge(openers) AS openers_approx,
    uniqMerge(clickers) AS clickers_approx
FROM campaign_daily
GROUP BY tenant, campaign;

CREATE VIEW IF NOT EXISTS v_campaign_uniques AS
SELECT
    tenant,
    campaign,
    uniqExactIf(subscriber_key, kind = 'open') AS opens_unique,
    uniqExactIf(subscriber_key, kind = 'open' AND machine = 0) AS opens_unique_human,
    uniqExactIf(subscriber_key, kind = 'click') AS clicks_unique,
    uniqExactIf(subscriber_key, kind = 'click' AND machine = 0) AS clicks_unique_human,
    uniqExactIf(subscriber_key, kind = 'unsubscribe') AS unsubscribes_unique
FROM campaign_uniques
GROUP BY tenant, campaign;

CREATE VIEW IF NOT EXISTS v_campaign_daily AS
SELECT
    tenant,
    campaign,
    day,
    sumMerge(opens) AS opens_total,
    sumMerge(opens_machine) AS opens_machine,
    opens_total - opens_machine AS opens_human,
    sumMerge(clicks) AS clicks_total,
    sumMerge(clicks_machine) AS clicks_machine,
    clicks_total - clicks_machine AS clicks_human,
    sumMerge(unsubscribes) AS unsubscribes,
    uniqMerge(openers) AS openers_approx,
    uniqMerge(clickers) AS clickers_approx
FROM campaign_daily
GROUP BY tenant, campaign, day;

CREATE VIEW IF NOT EXISTS v_campaign_hourly AS
SELECT
    tenant,
    campaign,
    hour,
    sumMerge(opens) AS opens_total,
    sumMerge(opens_machine) AS opens_machine,
    opens_total - opens_machine AS opens_human,
    sumMerge(clicks) AS clicks_total,
    sumMerge(clicks_machine) AS clicks_machine,
    clicks_total - clicks_machine AS clicks_human,
    sumMerge(unsubscribes) AS unsubscribes,
    uniqMerge(openers) AS openers_approx,
    uniqMerge(clickers) AS clickers_approx
FROM campaign_hourly
GROUP BY tenant, campaign, hour;

CREATE VIEW IF NOT EXISTS v_link_clicks AS
SELECT
    tenant,
    campaign,
    link,
    anyLastMerge(url) AS url,
    sumMerge(clicks) AS clicks_total,
    sumMerge(clicks_machine) AS clicks_machine,
    clicks_total - clicks_machine AS clicks_human,
    uniqMerge(clickers) AS clickers_approx,
    uniqMerge(clickers_human) AS clickers_human_approx
FROM link_daily
GROUP BY tenant, campaign, link;

CREATE VIEW IF NOT EXISTS v_campaign_breakdown AS
SELECT
    tenant,
    campaign,
    dimension,
    value,
    sumMerge(opens) AS opens_total,
    sumMerge(opens_machine) AS opens_machine,
    opens_total - opens_machine AS opens_human,
    sumMerge(clicks) AS clicks_total,
    sumMerge(clicks_machine) AS clicks_machine,
    clicks_total - clicks_machine AS clicks_human
FROM campaign_breakdown
GROUP BY tenant, campaign, dimension, value;
