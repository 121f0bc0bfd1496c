//! The live server functions' streams: one JSON document per line.

use serde::de::DeserializeOwned;

/// `items` as a text stream, one JSON document per line.
#[cfg(feature = "ssr")]
pub fn encode<T: serde::Serialize>(
    items: impl futures::Stream<Item = T> + Send + 'static,
) -> leptos::server_fn::codec::TextStream<super::AppError> {
    use futures::StreamExt;

    leptos::server_fn::codec::TextStream::new(items.map(|item| {
        serde_json::to_string(&item)
            .map(|line| line + "\n")
            .map_err(|err| super::AppError::Transport(err.to_string()))
    }))
}

/// Adds `chunk` to `pending` and takes out every whole line, read as a `T`.
/// Lines may arrive split, or several to a chunk: a part of a line waits in
/// `pending` for the rest, and a line that does not read is skipped.
pub fn take<T: DeserializeOwned>(pending: &mut String, chunk: &str) -> Vec<T> {
    pending.push_str(chunk);
    let mut items = Vec::new();
    while let Some(end) = pending.find('\n') {
        let line: String = pending.drain(..=end).collect();
        if let Ok(item) = serde_json::from_str(line.trim()) {
            items.push(item);
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::take;

    #[test]
    fn a_line_split_across_chunks_is_read_once_it_is_whole() {
        let mut pending = String::new();
        assert_eq!(take::<u32>(&mut pending, "1\n2"), vec![1]);
        assert_eq!(take::<u32>(&mut pending, "3\nx\n4\n"), vec![23, 4]);
        assert!(pending.is_empty());
    }
}
