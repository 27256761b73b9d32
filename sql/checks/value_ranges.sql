-- Values inside their ranges: market price limits -500 .. 4000 EUR/MWh (contract.py), energy >= 0,
-- contracted power > 0, shares within 0 .. 1. Null values are the other checks' business.
SELECT 'value_ranges' AS check_name, 'processed.transactions' AS table_name,
       count_if(price_eur_mwh < -500 OR price_eur_mwh > 4000 OR energy_kwh < 0) AS failures
FROM processed.transactions WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
UNION ALL
SELECT 'value_ranges', 'processed.clients', count_if(contracted_power_kw <= 0)
FROM processed.clients WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
UNION ALL
SELECT 'value_ranges', 'curated.daily_energy_balance',
       count_if(purchased_kwh < 0 OR sold_kwh < 0 OR active_clients < 0 OR transaction_count < 0
                OR avg_purchase_price_eur_mwh NOT BETWEEN -500 AND 4000
                OR avg_sale_price_eur_mwh NOT BETWEEN -500 AND 4000)
FROM curated.daily_energy_balance WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
UNION ALL
SELECT 'value_ranges', 'curated.daily_sales_by_segment',
       count_if(sold_kwh < 0 OR clients < 0 OR avg_price_eur_mwh NOT BETWEEN -500 AND 4000)
FROM curated.daily_sales_by_segment WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
UNION ALL
SELECT 'value_ranges', 'curated.daily_provider_purchases',
       count_if(purchased_kwh < 0 OR share_of_purchases < 0 OR share_of_purchases > 1
                OR avg_price_eur_mwh NOT BETWEEN -500 AND 4000)
FROM curated.daily_provider_purchases WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
UNION ALL
SELECT 'value_ranges', 'curated.client_daily_consumption',
       count_if(total_kwh < 0 OR p1_kwh < 0 OR p2_kwh < 0 OR p3_kwh < 0 OR p4_kwh < 0 OR p5_kwh < 0
                OR p6_kwh < 0)
FROM curated.client_daily_consumption WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
UNION ALL
SELECT 'value_ranges', 'curated.hourly_price_curve',
       count_if(purchased_kwh < 0 OR sold_kwh < 0
                OR avg_purchase_price_eur_mwh NOT BETWEEN -500 AND 4000
                OR avg_sale_price_eur_mwh NOT BETWEEN -500 AND 4000)
FROM curated.hourly_price_curve WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
