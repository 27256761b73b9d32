-- Keys are never null: the processed entities' ids and the curated natural keys (docs/architecture.md).
SELECT 'keys_not_null' AS check_name, 'processed.providers' AS table_name,
       count_if(provider_id IS NULL) AS failures
FROM processed.providers WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
UNION ALL
SELECT 'keys_not_null', 'processed.clients', count_if(client_id IS NULL)
FROM processed.clients WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
UNION ALL
SELECT 'keys_not_null', 'processed.transactions', count_if(transaction_id IS NULL)
FROM processed.transactions WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
UNION ALL
SELECT 'keys_not_null', 'curated.daily_energy_balance', count_if(delivery_date IS NULL)
FROM curated.daily_energy_balance WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
UNION ALL
SELECT 'keys_not_null', 'curated.daily_sales_by_segment',
       count_if(delivery_date IS NULL OR tariff IS NULL OR province_code IS NULL OR segment IS NULL)
FROM curated.daily_sales_by_segment WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
UNION ALL
SELECT 'keys_not_null', 'curated.daily_provider_purchases', count_if(delivery_date IS NULL OR provider_id IS NULL)
FROM curated.daily_provider_purchases WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
UNION ALL
SELECT 'keys_not_null', 'curated.client_daily_consumption', count_if(delivery_date IS NULL OR client_id IS NULL)
FROM curated.client_daily_consumption WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
UNION ALL
SELECT 'keys_not_null', 'curated.hourly_price_curve', count_if(delivery_start IS NULL)
FROM curated.hourly_price_curve WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
