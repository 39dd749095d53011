//! Shipments and their tracking events.

use chrono::{DateTime, Utc};
use meridian_common::{SellerId, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrackingStatus {
    LabelCreated,
    InTransit,
    OutForDelivery,
    Delivered,
    Exception,
}

impl TrackingStatus {
    /// Carrier scans move forward; an exception can happen anywhere before
    /// delivery and is resolved by a new forward scan.
    pub fn can_become(self, next: TrackingStatus) -> bool {
        use TrackingStatus::*;
        match (self, next) {
            (Delivered, _) => false,
            (_, Exception) => true,
            (Exception, InTransit | OutForDelivery | Delivered) => true,
            (LabelCreated, InTransit | OutForDelivery | Delivered) => true,
            (InTransit, InTransit | OutForDelivery | Delivered) => true,
            (OutForDelivery, OutForDelivery | Delivered | InTransit) => true,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingEvent {
    pub status: TrackingStatus,
    pub at: DateTime<Utc>,
    pub location: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    pub id: Uuid,
    pub order_id: Uuid,
    pub sub_order_id: Uuid,
    pub seller_id: SellerId,
    #[serde(skip_serializing)]
    pub buyer_id: UserId,
    pub carrier: String,
    pub tracking_number: String,
    pub status: TrackingStatus,
    /// Oldest first.
    pub events: Vec<TrackingEvent>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TrackingStatus {
    /// The status a history settles on, given its events in the order they
    /// were recorded: each event moves the status if the transition is
    /// allowed from where the previous ones left it, and is kept as history
    /// either way. For one writer this is exactly what `record` computed
    /// (it refused the rest); for two origins that recorded on the same
    /// state at once (a store without a compare-and-set, docs/stores.md) it
    /// is one deterministic status both converge to, so neither change is
    /// lost to the other's write of the state.
    pub fn settle<'a>(recorded: impl IntoIterator<Item = &'a TrackingEvent>) -> Option<Self> {
        let mut events = recorded.into_iter();
        let first = events.next()?.status;
        Some(events.fold(first, |status, e| {
            if status.can_become(e.status) {
                e.status
            } else {
                status
            }
        }))
    }
}

impl Shipment {
    pub fn record(&mut self, event: TrackingEvent) -> Result<(), String> {
        if !self.status.can_become(event.status) {
            return Err(format!(
                "a {:?} shipment cannot become {:?}",
                self.status, event.status
            ));
        }
        self.status = event.status;
        self.updated_at = Utc::now();
        self.events.push(event);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::TrackingStatus::*;

    fn at(status: super::TrackingStatus, second: u32) -> super::TrackingEvent {
        super::TrackingEvent {
            status,
            at: chrono::DateTime::from_timestamp(i64::from(second), 0).unwrap(),
            location: None,
            note: None,
        }
    }

    #[test]
    fn a_history_settles_on_one_status_whatever_order_concurrent_writes_took() {
        use super::TrackingStatus;
        assert_eq!(TrackingStatus::settle(&[]), None);
        // One writer: what record() allowed, in its order.
        let single = [at(LabelCreated, 0), at(InTransit, 5), at(OutForDelivery, 3)];
        assert_eq!(TrackingStatus::settle(&single), Some(OutForDelivery));
        // Two origins on the same InTransit state, one delivering and one
        // reporting an exception: delivered, in either order.
        let base = [at(LabelCreated, 0), at(InTransit, 1)];
        for (first, second) in [(Delivered, Exception), (Exception, Delivered)] {
            let history: Vec<_> = base
                .iter()
                .cloned()
                .chain([at(first, 9), at(second, 10)])
                .collect();
            assert_eq!(TrackingStatus::settle(&history), Some(Delivered));
        }
    }

    #[test]
    fn tracking_moves_forward_and_stops_at_delivery() {
        assert!(LabelCreated.can_become(InTransit));
        assert!(InTransit.can_become(Exception));
        assert!(Exception.can_become(InTransit));
        assert!(OutForDelivery.can_become(Delivered));
        assert!(!Delivered.can_become(InTransit));
        assert!(!Delivered.can_become(Exception));
        assert!(!InTransit.can_become(LabelCreated));
    }
}
