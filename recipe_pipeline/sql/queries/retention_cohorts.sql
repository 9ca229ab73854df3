-- Retention by first-seen cohort: users first seen on a day, and how many were active again exactly 1, 7 and 30 days later.
-- params: first_ymd, end_ymd, start_date, end_date
-- start_date/end_date bound the cohorts; end_ymd bounds the activity read, so it runs to the data's end (a week's cohorts return after the week).
-- Activity comes from user_activity, kept 2 years: a first day outlives the 90 days of conversations.
WITH user_days AS (
    SELECT DISTINCT user_id, activity_date
    FROM user_activity
    WHERE (year * 10000 + month * 100 + day) BETWEEN ? AND ?
),
first_seen AS (
    SELECT user_id, MIN(activity_date) AS cohort_date
    FROM user_days
    GROUP BY user_id
)
SELECT
    CAST(f.cohort_date AS varchar) AS cohort,
    COUNT(DISTINCT f.user_id) AS users,
    COUNT(DISTINCT CASE WHEN u.activity_date = f.cohort_date + INTERVAL '1' DAY THEN u.user_id END) AS day_1,
    COUNT(DISTINCT CASE WHEN u.activity_date = f.cohort_date + INTERVAL '7' DAY THEN u.user_id END) AS day_7,
    COUNT(DISTINCT CASE WHEN u.activity_date = f.cohort_date + INTERVAL '30' DAY THEN u.user_id END) AS day_30
FROM first_seen AS f
JOIN user_days AS u ON u.user_id = f.user_id
WHERE f.cohort_date BETWEEN CAST(? AS date) AND CAST(? AS date)
GROUP BY f.cohort_date
ORDER BY f.cohort_date
