-- Keys are unique within the run date: each surplus row of a repeated key (natural keys of
-- docs/architecture.md; processed ids) counts once.
SELECT 'keys_unique' AS check_name, 'processed.providers' AS table_name, coalesce(sum(n - 1), 0) AS failures
FROM (
    SELECT provider_id, count(*) AS n
    FROM processed.providers
    WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
    GROUP BY provider_id
    HAVING count(*) > 1
) AS repeated
UNION ALL
SELECT 'keys_unique', 'processed.clients', coalesce(sum(n - 1), 0)
FROM (
    SELECT client_id, count(*) AS n
    FROM processed.clients
    WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
    GROUP BY client_id
    HAVING count(*) > 1
) AS repeated
UNION ALL
SELECT 'keys_unique', 'processed.transactions', coalesce(sum(n - 1), 0)
FROM (
    SELECT transaction_id, count(*) AS n
    FROM processed.transactions
    WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
    GROUP BY transaction_id
    HAVING count(*) > 1
) AS repeated
UNION ALL
SELECT 'keys_unique', 'curated.daily_energy_balance', coalesce(sum(n - 1), 0)
FROM (
    SELECT delivery_date, count(*) AS n
    FROM curated.daily_energy_balance
    WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
    GROUP BY delivery_date
    HAVING count(*) > 1
) AS repeated
UNION ALL
SELECT 'keys_unique', 'curated.daily_sales_by_segment', coalesce(sum(n - 1), 0)
FROM (
    SELECT delivery_date, tariff, province_code, segment, count(*) AS n
    FROM curated.daily_sales_by_segment
    WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
    GROUP BY delivery_date, tariff, province_code, segment
    HAVING count(*) > 1
) AS repeated
UNION ALL
SELECT 'keys_unique', 'curated.daily_provider_purchases', coalesce(sum(n - 1), 0)
FROM (
    SELECT delivery_date, provider_id, count(*) AS n
    FROM curated.daily_provider_purchases
    WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
    GROUP BY delivery_date, provider_id
    HAVING count(*) > 1
) AS repeated
UNION ALL
SELECT 'keys_unique', 'curated.client_daily_consumption', coalesce(sum(n - 1), 0)
FROM (
    SELECT delivery_date, client_id, count(*) AS n
    FROM curated.client_daily_consumption
    WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
    GROUP BY delivery_date, client_id
    HAVING count(*) > 1
) AS repeated
UNION ALL
SELECT 'keys_unique', 'curated.hourly_price_curve', coalesce(sum(n - 1), 0)
FROM (
    SELECT delivery_start, count(*) AS n
    FROM curated.hourly_price_curve
    WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
    GROUP BY delivery_start
    HAVING count(*) > 1
) AS repeated
