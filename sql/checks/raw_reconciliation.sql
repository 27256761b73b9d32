-- Nothing lost between raw and processed: for each entity, the raw rows of the run date (counted from the
-- raw CSV table itself) = processed rows + quarantined rows + rows of files quarantined whole + duplicates
-- removed. Only the last two come from the job's load manifest; the failure count is the difference.
WITH raw_rows AS (
    SELECT 'providers' AS entity, count(*) AS n FROM raw.providers WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
    UNION ALL
    SELECT 'clients', count(*) FROM raw.clients WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
    UNION ALL
    SELECT 'transactions', count(*) FROM raw.transactions WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
),
processed_rows AS (
    SELECT 'providers' AS entity, count(*) AS n FROM processed.providers WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
    UNION ALL
    SELECT 'clients', count(*) FROM processed.clients WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
    UNION ALL
    SELECT 'transactions', count(*) FROM processed.transactions WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
),
quarantined_rows AS (
    SELECT entity, count(*) AS n
    FROM processed.quarantine
    WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}' AND line_number IS NOT NULL
    GROUP BY entity
),
manifest AS (
    SELECT entity,
           sum(CASE WHEN status = 'quarantined' THEN rows_read ELSE 0 END) AS whole_file_rows,
           sum(CASE WHEN status = 'quarantined' THEN 0 ELSE rows_read - rows_accepted - rows_quarantined END)
               AS duplicate_rows
    FROM processed.load_manifest
    WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
    GROUP BY entity
)
SELECT 'raw_reconciliation' AS check_name,
       'processed.' || r.entity AS table_name,
       abs(r.n - (coalesce(p.n, 0) + coalesce(q.n, 0) + coalesce(m.whole_file_rows, 0)
                  + coalesce(m.duplicate_rows, 0))) AS failures
FROM raw_rows AS r
LEFT JOIN processed_rows AS p ON p.entity = r.entity
LEFT JOIN quarantined_rows AS q ON q.entity = r.entity
LEFT JOIN manifest AS m ON m.entity = r.entity
