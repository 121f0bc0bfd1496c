//! The figures every report carries, computed from the transcript alone: who
//! wrote how much, who asked questions, how fast each side answered, and how
//! long the session ran.

use std::collections::HashMap;

use app::{
    chat::protocol::Role,
    reports::{ParticipantStats, SessionAnalytics},
};

/// One message of the transcript, as the report generator reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptLine {
    /// Tells participants apart when two share a display name.
    pub participant_id: String,
    pub name: String,
    pub role: Role,
    pub text: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// Computes the analytics of a transcript in time order: what the session
/// still stores of it, out of the `posted` messages it ever had.
pub fn analyse(lines: &[TranscriptLine], posted: u64) -> SessionAnalytics {
    let mut order: Vec<&str> = Vec::new();
    let mut stats: HashMap<&str, ParticipantStats> = HashMap::new();
    for line in lines {
        let entry = stats.entry(&line.participant_id).or_insert_with(|| {
            order.push(&line.participant_id);
            ParticipantStats {
                name: line.name.clone(),
                role: line.role,
                messages: 0,
                words: 0,
                talk_share_pct: 0.0,
                questions: 0,
            }
        });
        entry.messages += 1;
        entry.words += word_count(&line.text);
        entry.questions += question_count(&line.text);
    }

    let total_words: u32 = stats.values().map(|s| s.words).sum();
    let mut participants: Vec<ParticipantStats> = order
        .iter()
        .filter_map(|id| stats.remove(id))
        .map(|mut s| {
            s.talk_share_pct = percent(s.words, total_words);
            s
        })
        .collect();
    // Tutors first, then by how much each wrote: the order a reader scans.
    participants.sort_by(|a, b| {
        (a.role != Role::Tutor, std::cmp::Reverse(a.words))
            .cmp(&(b.role != Role::Tutor, std::cmp::Reverse(b.words)))
    });

    let side_questions = |side| {
        participants
            .iter()
            .filter(|p| p.role == side)
            .map(|p| p.questions)
            .sum()
    };
    let duration_ms = match (lines.first(), lines.last()) {
        (Some(first), Some(last)) => last.at_ms.saturating_sub(first.at_ms),
        _ => 0,
    };

    SessionAnalytics {
        messages: lines.len() as u32,
        duration_secs: duration_ms / 1000,
        tutor_questions: side_questions(Role::Tutor),
        student_questions: side_questions(Role::Student),
        tutor_response_median_secs: median_response(lines, Role::Tutor),
        student_response_median_secs: median_response(lines, Role::Student),
        participants,
        earlier_not_kept: posted.saturating_sub(lines.len() as u64),
    }
}

fn word_count(text: &str) -> u32 {
    text.split_whitespace().count() as u32
}

/// Sentences that end in a question mark; "why?? how?" counts two.
fn question_count(text: &str) -> u32 {
    let mut count = 0;
    let mut in_marks = false;
    for c in text.chars() {
        let is_mark = c == '?' || c == '？';
        if is_mark && !in_marks {
            count += 1;
        }
        in_marks = is_mark;
    }
    count
}

fn percent(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    (f64::from(part) * 1000.0 / f64::from(whole)).round() / 10.0
}

/// The median time `role` took to answer: from a message of the other side
/// to the next message of this side, once per turn.
fn median_response(lines: &[TranscriptLine], role: Role) -> Option<f64> {
    let mut waits: Vec<u64> = Vec::new();
    let mut waiting_since: Option<u64> = None;
    for line in lines {
        if line.role != role {
            // The first unanswered message of the other side starts the clock.
            waiting_since.get_or_insert(line.at_ms);
        } else if let Some(since) = waiting_since.take() {
            waits.push(line.at_ms.saturating_sub(since));
        }
    }
    if waits.is_empty() {
        return None;
    }
    waits.sort_unstable();
    let mid = waits.len() / 2;
    let median_ms = if waits.len() % 2 == 1 {
        waits[mid] as f64
    } else {
        (waits[mid - 1] + waits[mid]) as f64 / 2.0
    };
    Some((median_ms / 100.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, role: Role, text: &str, at_s: u64) -> TranscriptLine {
        TranscriptLine {
            participant_id: id.into(),
            name: id.to_uppercase(),
            role,
            text: text.into(),
            at_ms: 1_700_000_000_000 + at_s * 1000,
        }
    }

    #[test]
    fn words_messages_share_and_questions_are_counted_per_participant() {
        let lines = [
            line("t", Role::Tutor, "What is a prime number?", 0),
            line("s", Role::Student, "One with two divisors", 10),
            line("t", Role::Tutor, "Right. Is 1 prime?? And 2?", 20),
            line("s", Role::Student, "No", 50),
        ];
        let a = analyse(&lines, lines.len() as u64);
        assert_eq!(a.messages, 4);
        assert_eq!(a.duration_secs, 50);
        let tutor = &a.participants[0];
        assert_eq!(
            (tutor.name.as_str(), tutor.messages, tutor.words),
            ("T", 2, 11)
        );
        assert_eq!(tutor.questions, 3);
        let student = &a.participants[1];
        assert_eq!(
            (student.messages, student.words, student.questions),
            (2, 5, 0)
        );
        assert_eq!(tutor.talk_share_pct, 68.8);
        assert_eq!(student.talk_share_pct, 31.3);
        assert_eq!((a.tutor_questions, a.student_questions), (3, 0));
    }

    #[test]
    fn response_times_run_from_the_other_sides_first_unanswered_message() {
        let lines = [
            line("t", Role::Tutor, "a", 0),
            line("t", Role::Tutor, "b", 5),
            line("s", Role::Student, "c", 20),
            line("t", Role::Tutor, "d", 24),
            line("s", Role::Student, "e", 30),
        ];
        let a = analyse(&lines, lines.len() as u64);
        // The student answered after 20 s and 6 s; the tutor after 4 s.
        assert_eq!(a.student_response_median_secs, Some(13.0));
        assert_eq!(a.tutor_response_median_secs, Some(4.0));
    }

    #[test]
    fn an_empty_transcript_gives_zeroes_and_no_medians() {
        let a = analyse(&[], 0);
        assert_eq!(a, SessionAnalytics::default());
    }
}
