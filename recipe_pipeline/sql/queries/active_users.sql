-- Daily, weekly and monthly active users: distinct pseudonymous users over rolling 1/7/28-day windows ending each day.
-- params: lookback_ymd, end_ymd, start_date, end_date
-- lookback_ymd is 27 days before start_date, so every window is complete when the lake is.
WITH user_days AS (
    SELECT DISTINCT user_id, CAST(message_ts AS date) AS activity_date
    FROM recipe_conversations
    WHERE (year * 10000 + month * 100 + day) BETWEEN ? AND ?
),
report_days AS (
    SELECT DISTINCT activity_date AS report_date
    FROM user_days
    WHERE activity_date BETWEEN CAST(? AS date) AND CAST(? AS date)
)
SELECT
    CAST(r.report_date AS varchar) AS "date",
    COUNT(DISTINCT CASE WHEN u.activity_date = r.report_date THEN u.user_id END) AS dau,
    COUNT(DISTINCT CASE WHEN u.activity_date > r.report_date - INTERVAL '7' DAY THEN u.user_id END) AS wau,
    COUNT(DISTINCT u.user_id) AS mau
FROM report_days AS r
JOIN user_days AS u
    ON u.activity_date BETWEEN r.report_date - INTERVAL '27' DAY AND r.report_date
GROUP BY r.report_date
ORDER BY r.report_date
