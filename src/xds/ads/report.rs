//! The stream's subscription counters (the insight's `status`) and their coalesced reports
//! to the mesh actor.

use super::*;

/// The insight's counters of type `t`; secrets have none (Kuma's insight has no `sds`), they
/// count in `total` only.
pub(super) fn bucket(status: &mut SubscriptionStatus, t: TypeUrl) -> Option<&mut Stats> {
    let slot = match t {
        TypeUrl::Secret => return None,
        TypeUrl::Cluster => &mut status.cds,
        TypeUrl::Endpoint => &mut status.eds,
        TypeUrl::Listener => &mut status.lds,
        TypeUrl::Route => &mut status.rds,
    };
    Some(slot.get_or_insert_with(Stats::default))
}

impl AdsStream {
    pub(super) fn count_sent(&mut self, t: TypeUrl) {
        let status = self
            .subscription
            .status
            .get_or_insert_with(Default::default);
        status.last_update_time = Some(Timestamp::now());
        status
            .total
            .get_or_insert_with(Stats::default)
            .responses_sent += 1;
        if let Some(stats) = bucket(status, t) {
            stats.responses_sent += 1;
        }
        self.report();
    }

    pub(super) fn count_reply(&mut self, t: TypeUrl, rejected: bool) {
        let status = self
            .subscription
            .status
            .get_or_insert_with(Default::default);
        status.last_update_time = Some(Timestamp::now());
        let bump = |s: &mut Stats| {
            if rejected {
                s.responses_rejected += 1;
            } else {
                s.responses_acknowledged += 1;
            }
        };
        bump(status.total.get_or_insert_with(Stats::default));
        if let Some(stats) = bucket(status, t) {
            bump(stats);
        }
        self.report();
    }

    /// The subscription changed: report it now, or with the next report if one is pending or
    /// the last was less than [`REPORT_INTERVAL`] ago.
    pub(super) fn report(&mut self) {
        if self.report_due.is_some() {
            return;
        }
        if Instant::now() >= self.quiet_until {
            self.report_now();
        } else {
            self.report_due = Some(self.quiet_until);
        }
    }

    pub(super) fn report_now(&mut self) {
        self.report_due = None;
        self.quiet_until = Instant::now() + REPORT_INTERVAL;
        if let Some(proxy) = &self.proxy {
            proxy.actor.do_send(ReportSubscription {
                dataplane: proxy.dataplane.clone(),
                subscription: self.subscription.clone(),
            });
        }
    }
}
