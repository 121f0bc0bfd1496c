//! The little grammar both ends need to write their sentences: the server's
//! narratives and action outcomes, the pages' figures.

/// `"s"` unless `n` is one: "1 job", "2 jobs".
pub fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `n` and the noun, in the singular for one: `counted(2, "job")` is
/// "2 jobs".
pub fn counted(n: u64, noun: &str) -> String {
    format!("{n} {noun}{}", plural(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_takes_the_singular_and_every_other_count_the_plural() {
        assert_eq!(counted(1, "job"), "1 job");
        assert_eq!(counted(0, "job"), "0 jobs");
        assert_eq!(counted(12, "report"), "12 reports");
    }
}
