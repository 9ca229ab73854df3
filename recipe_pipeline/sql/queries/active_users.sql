-- Daily, weekly and monthly active users: distinct pseudonymous users over rolling 1/7/28-day windows ending each day.
-- params: lookback_ymd, end_ymd, start_date, end_date
-- lookback_ymd is 27 days before start_date, so every window is complete when the lake is.
-- Every day of the range is a row, a day without activity too (DAU 0, WAU/MAU from the days
-- before). The calendar is a sequence over the activity read plus 27 days, cut to the range in a
-- WHERE clause, as Athena takes ? parameters only there; a day it lacks had nobody in its 28 days.
WITH user_days AS (
    SELECT DISTINCT user_id, CAST(message_ts AS date) AS activity_date
    FROM recipe_conversations
    WHERE (year * 10000 + month * 100 + day) BETWEEN ? AND ?
),
activity_bounds AS (
    SELECT MIN(activity_date) AS first_day, MAX(activity_date) AS last_day
    FROM user_days
),
report_days AS (
    SELECT CAST(c.calendar_day AS date) AS report_date
    FROM activity_bounds
    CROSS JOIN UNNEST(sequence(first_day, last_day + INTERVAL '27' DAY, INTERVAL '1' DAY)) AS c (calendar_day)
    WHERE CAST(c.calendar_day AS date) BETWEEN CAST(? AS date) AND CAST(? AS date)
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
