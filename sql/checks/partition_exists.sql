-- The run date's partition exists, with rows, in every processed and curated table.
-- Athena SQL; {{ year }}, {{ month }}, {{ day }} are filled by energy_datalake.checks.render.
SELECT 'partition_exists' AS check_name, 'processed.providers' AS table_name,
       CASE WHEN count(*) = 0 THEN 1 ELSE 0 END AS failures
FROM processed.providers WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
UNION ALL
SELECT 'partition_exists', 'processed.clients', CASE WHEN count(*) = 0 THEN 1 ELSE 0 END
FROM processed.clients WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
UNION ALL
SELECT 'partition_exists', 'processed.transactions', CASE WHEN count(*) = 0 THEN 1 ELSE 0 END
FROM processed.transactions WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
UNION ALL
SELECT 'partition_exists', 'processed.load_manifest', CASE WHEN count(*) = 0 THEN 1 ELSE 0 END
FROM processed.load_manifest WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
UNION ALL
SELECT 'partition_exists', 'curated.daily_energy_balance', CASE WHEN count(*) = 0 THEN 1 ELSE 0 END
FROM curated.daily_energy_balance WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
UNION ALL
SELECT 'partition_exists', 'curated.daily_sales_by_segment', CASE WHEN count(*) = 0 THEN 1 ELSE 0 END
FROM curated.daily_sales_by_segment WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
UNION ALL
SELECT 'partition_exists', 'curated.daily_provider_purchases', CASE WHEN count(*) = 0 THEN 1 ELSE 0 END
FROM curated.daily_provider_purchases WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
UNION ALL
SELECT 'partition_exists', 'curated.client_daily_consumption', CASE WHEN count(*) = 0 THEN 1 ELSE 0 END
FROM curated.client_daily_consumption WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
UNION ALL
SELECT 'partition_exists', 'curated.hourly_price_curve', CASE WHEN count(*) = 0 THEN 1 ELSE 0 END
FROM curated.hourly_price_curve WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
