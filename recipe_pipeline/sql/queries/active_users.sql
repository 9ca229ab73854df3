-- Daily, weekly and monthly active users: distinct pseudonymous users over rolling 1/7/28-day windows ending each day.
-- params: lookback_ymd, end_ymd, start_date, end_date
-- lookback_ymd is 27 days before start_date, so every window is complete when the lake is.
-- Every day of the range is a row, a day without activity too (DAU 0, WAU/MAU from the days
-- before), days before the first activity included. The calendar is every day from 2000 to 2101
-- (blocks of 1,000 days: Trino's sequence() stops at 10,000 entries), cut to the range in a WHERE
-- clause, as Athena takes ? parameters only there.
WITH user_days AS (
    SELECT DISTINCT user_id, CAST(message_ts AS date) AS activity_date
    FROM recipe_conversations
    WHERE (year * 10000 + month * 100 + day) BETWEEN ? AND ?
),
report_days AS (
    SELECT CAST(date_add('day', b.n * 1000 + d.n, DATE '2000-01-01') AS date) AS report_date
    FROM UNNEST(sequence(0, 36)) AS b (n)
    CROSS JOIN UNNEST(sequence(0, 999)) AS d (n)
    WHERE date_add('day', b.n * 1000 + d.n, DATE '2000-01-01') BETWEEN CAST(? AS date) AND CAST(? AS date)
)
SELECT
    CAST(r.report_date AS varchar) AS "date",
    COUNT(DISTINCT CASE WHEN u.activity_date = r.report_date THEN u.user_id END) AS dau,
    COUNT(DISTINCT CASE WHEN u.activity_date > r.report_date - INTERVAL '7' DAY THEN u.user_id END) AS wau,
    COUNT(DISTINCT u.user_id) AS mau
FROM report_days AS r
LEFT JOIN user_days AS u
    ON u.activity_date BETWEEN r.report_date - INTERVAL '27' DAY AND r.report_date
GROUP BY r.report_date
ORDER BY r.report_date
