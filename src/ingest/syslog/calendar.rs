//! Days and dates of the proleptic Gregorian calendar as plain arithmetic
//! (H. Hinnant's `days_from_civil` and `civil_from_days`), for the two
//! places where jiff's general conversions were the largest cost in a
//! profile: writing receive times and settling the year of an RFC 3164
//! date. Each is checked against jiff.

/// The day counted from 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `(year, month, day)` of a day counted from
/// 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::Date;

    fn jiff_days(date: Date) -> i64 {
        Date::constant(1970, 1, 1)
            .until((jiff::Unit::Day, date))
            .map(|span| i64::from(span.get_days()))
            .unwrap()
    }

    proptest::proptest! {
        /// Both ways agree with jiff over its whole range of dates.
        #[test]
        fn days_and_dates_are_jiffs(days in -4_371_587i64..=2_932_896) {
            let date = Date::constant(1970, 1, 1)
                .checked_add(jiff::Span::new().days(days))
                .unwrap();
            let (y, m, d) = civil_from_days(days);
            proptest::prop_assert_eq!(
                (y, m, d),
                (i64::from(date.year()), i64::from(date.month()), i64::from(date.day()))
            );
            proptest::prop_assert_eq!(days_from_civil(y, m, d), days);
            proptest::prop_assert_eq!(jiff_days(date), days);
        }
    }

    #[test]
    fn the_edges_of_months_leap_years_and_eras() {
        for (y, m, d) in [
            (1970, 1, 1),
            (1969, 12, 31),
            (2000, 2, 29),
            (2100, 3, 1),
            (1900, 2, 28),
            (2026, 12, 1),
            (0, 1, 1),
            (-1, 12, 31),
            (9999, 12, 31),
            (-9999, 1, 1),
        ] {
            let date = Date::new(y as i16, m as i8, d as i8).unwrap();
            let days = days_from_civil(y, m, d);
            assert_eq!(days, jiff_days(date), "{date}");
            assert_eq!(civil_from_days(days), (y, m, d), "{date}");
        }
    }
}
