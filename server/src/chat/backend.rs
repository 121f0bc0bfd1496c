//! The chat as the pages' server functions see it: the `ChatSessions`
//! backend, with links built here so the pages never assemble a token.

use app::{
    api::{AppError, CreatedSession, SessionView},
    backend::ChatSessions,
    chat::protocol::{Participant, Role},
};
use async_trait::async_trait;

use super::{tokens, tokens::ParticipantToken, ChatEngine};

fn session_link(session: &str, token: &str) -> String {
    format!("/session/{session}?token={token}")
}

fn invite_link(session: &str, invite: &str) -> String {
    format!("/session/{session}/join?invite={invite}")
}

#[async_trait]
impl ChatSessions for ChatEngine {
    async fn create(&self, title: &str, tutor_name: &str) -> Result<CreatedSession, AppError> {
        let created = self.create_session(title, tutor_name).await?;
        tracing::debug!(session = %created.session_id, "session created");
        Ok(CreatedSession {
            tutor_link: session_link(&created.session_id, &created.tutor_token),
            invite_link: invite_link(&created.session_id, &created.invite),
            session_id: created.session_id,
        })
    }

    async fn join(&self, session: &str, invite: &str, name: &str) -> Result<String, AppError> {
        let (_, token) = self.admit(session, invite, name).await?;
        Ok(session_link(session, &token))
    }

    async fn view(&self, session: &str, token: &str) -> Result<SessionView, AppError> {
        let you = self.check_token(session, token).await?;
        let info = self.session_info(session).await?;
        // The tutor's page shows the invite again; it is derived from the
        // tutor's secret, which only the tutor's token carries.
        let invite_link = match (you.role, ParticipantToken::parse(token)) {
            (Role::Tutor, Some(token)) => Some(invite_link(
                session,
                &tokens::invite_of(session, &token.secret),
            )),
            _ => None,
        };
        Ok(SessionView {
            session_id: session.to_string(),
            title: info.title,
            you,
            ended: info.ended,
            invite_link,
        })
    }

    async fn online(&self, session: &str, token: &str) -> Result<Vec<Participant>, AppError> {
        self.check_token(session, token).await?;
        Ok(ChatEngine::online(self, session).await?)
    }

    async fn end(&self, session: &str, token: &str) -> Result<(), AppError> {
        let you = self.check_token(session, token).await?;
        Ok(ChatEngine::end(self, session, &you).await?)
    }
}
