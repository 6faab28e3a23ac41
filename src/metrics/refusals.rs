//! What intake refused to parse and what the desk would not answer: mail
//! quarantined unparsed, by reason, and replies held back by the hourly cap.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric as _};
use prometheus_client::metrics::counter::ConstCounter;

use crate::intake::Refusal;

/// Why a message was quarantined without being parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unparsed {
    /// Poison: its attempts reached `mailbox.max_attempts` unsettled.
    GivenUp,
    /// Over `mailbox.max_message_bytes`.
    Oversized,
    // Over one of `[mailbox.limits]`, or not exactly one From:
    TooDeep,
    TooManyParts,
    TooManyHeaders,
    HeaderTooLarge,
    DecodedTooLarge,
    NoFrom,
    SeveralFrom,
}

impl Unparsed {
    pub const ALL: [Unparsed; 9] = [
        Self::GivenUp,
        Self::Oversized,
        Self::TooDeep,
        Self::TooManyParts,
        Self::TooManyHeaders,
        Self::HeaderTooLarge,
        Self::DecodedTooLarge,
        Self::NoFrom,
        Self::SeveralFrom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::GivenUp => "given_up",
            Self::Oversized => "oversized",
            Self::TooDeep => "too_deep",
            Self::TooManyParts => "too_many_parts",
            Self::TooManyHeaders => "too_many_headers",
            Self::HeaderTooLarge => "header_too_large",
            Self::DecodedTooLarge => "decoded_too_large",
            Self::NoFrom => "no_from",
            Self::SeveralFrom => "several_from",
        }
    }
}
label_value!(Unparsed);

/// The limit a refusal names is not part of its series.
impl From<Refusal> for Unparsed {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::TooDeep(_) => Self::TooDeep,
            Refusal::TooManyParts(_) => Self::TooManyParts,
            Refusal::TooManyHeaders(_) => Self::TooManyHeaders,
            Refusal::HeaderTooLarge(_) => Self::HeaderTooLarge,
            Refusal::DecodedTooLarge(_) => Self::DecodedTooLarge,
            Refusal::NoFrom => Self::NoFrom,
            Refusal::SeveralFrom(_) => Self::SeveralFrom,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct UnparsedLabels {
    reason: Unparsed,
}

impl super::Metrics {
    /// Counts a message quarantined without being parsed.
    pub fn unparsed(&self, reason: Unparsed) {
        self.unparsed.get_or_create(&UnparsedLabels { reason }).inc();
    }
}

/// Every reason's series, at zero until counted.
pub(super) fn unparsed_family() -> prometheus_client::metrics::family::Family<UnparsedLabels, super::Counter> {
    let family = prometheus_client::metrics::family::Family::<UnparsedLabels, super::Counter>::default();
    for reason in Unparsed::ALL {
        let _ = family.get_or_create(&UnparsedLabels { reason });
    }
    family
}

/// `reply_cap_hits`: read at each scrape from the desk's counter (the desk
/// sits below the metrics and cannot call them).
#[derive(Debug)]
pub(super) struct ReplyCapHits;

impl Collector for ReplyCapHits {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let hits = crate::desk::REPLY_CAP_HITS.load(std::sync::atomic::Ordering::Relaxed);
        let counter = ConstCounter::new(hits);
        let help = "Automatic replies not sent: their recipient's hourly cap was reached";
        let metric = encoder.encode_descriptor("reply_cap_hits", help, None, counter.metric_type())?;
        counter.encode(metric)
    }
}
