-- Every sale references a client and every purchase a provider of the same day's processed snapshots.
SELECT 'sales_known_client' AS check_name, 'processed.transactions' AS table_name, count(*) AS failures
FROM processed.transactions AS t
LEFT JOIN (SELECT client_id FROM processed.clients WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}') AS c
    ON c.client_id = t.counterparty_id
WHERE t.year = '{{ year }}' AND t.month = '{{ month }}' AND t.day = '{{ day }}' AND t.transaction_type = 'SALE' AND c.client_id IS NULL
UNION ALL
SELECT 'purchases_known_provider', 'processed.transactions', count(*)
FROM processed.transactions AS t
LEFT JOIN (SELECT provider_id FROM processed.providers WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}') AS p
    ON p.provider_id = t.counterparty_id
WHERE t.year = '{{ year }}' AND t.month = '{{ month }}' AND t.day = '{{ day }}' AND t.transaction_type = 'PURCHASE' AND p.provider_id IS NULL
