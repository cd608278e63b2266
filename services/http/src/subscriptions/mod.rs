//! `/api/v1/subscriptions`: registering a subscription (the JSON intake),
//! the list, and one subscription's view. The intake service itself is
//! shared with the HTML form (`pages`), so both obey the same rules.

pub mod create;
pub mod intake;
pub mod list;
pub mod view;

use crate::SharedState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(create::create_subscription, list::list_subscriptions))
        .routes(routes!(view::get_subscription))
}
