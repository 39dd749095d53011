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
