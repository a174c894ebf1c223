//! The words a room uses when its program gives none of its own: the
//! standard consent terms and the standard post-session questions, in every
//! language the web client speaks. A program's own terms carry their own
//! translations; these must not leave a Spanish or Arabic reader with English
//! at the two moments that matter most (consenting, and saying how it went).

use std::collections::BTreeMap;

use super::feedback::{Question, Questionnaire};
use super::types::{ConsentItem, ConsentTerms};

/// One text in English, Spanish and Arabic.
struct Words {
    id: &'static str,
    en: &'static str,
    es: &'static str,
    ar: &'static str,
}

impl Words {
    fn translations(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("es".to_owned(), self.es.to_owned()),
            ("ar".to_owned(), self.ar.to_owned()),
        ])
    }
}

const CONSENT_VERSION: &str = "2026-11";

// Consent items are in the first person: the person says them. The Arabic
// avoids assuming the reader's gender, as the client's catalogue does.
const CONSENT: &[Words] = &[
    Words {
        id: "voluntary",
        en: "I am taking part voluntarily. I can leave at any time, and I can withdraw my consent.",
        es: "Participo de forma voluntaria. Puedo irme en cualquier momento y puedo retirar mi consentimiento.",
        ar: "أشارك بإرادتي الحرّة. يمكنني المغادرة في أي وقت، ويمكنني سحب موافقتي.",
    },
    Words {
        id: "confidentiality",
        en: "What is said in this circle stays in it, except where someone's safety is at risk or the law requires the keeper to report.",
        es: "Lo que se dice en este círculo se queda en él, salvo cuando la seguridad de alguien está en riesgo o la ley obliga a quien guía el círculo a informar.",
        ar: "ما يُقال في هذه الدائرة يبقى فيها، إلا إذا كانت سلامة أحدٍ في خطر أو كان القانون يُلزم الميسّر بالإبلاغ.",
    },
    Words {
        id: "no_recording",
        en: "Nobody records this session: not the service, not me, not anyone else.",
        es: "Nadie graba esta sesión: ni el servicio, ni yo, ni nadie más.",
        ar: "لا أحد يسجّل هذه الجلسة: لا الخدمة، ولا أنا، ولا أي شخص آخر.",
    },
    Words {
        id: "withdrawal",
        en: "I can withdraw my consent with the button on my screen; from then on nobody sees or hears me, and I see and hear no one.",
        es: "Puedo retirar mi consentimiento con el botón de mi pantalla; desde ese momento nadie me ve ni me oye, y yo no veo ni oigo a nadie.",
        ar: "يمكنني سحب موافقتي بالزر الموجود على شاشتي؛ ومن تلك اللحظة لا يراني أحد ولا يسمعني، ولا أرى أحدًا ولا أسمعه.",
    },
];

const KEEPER_CONSENT_VERSION: &str = "keeper-2026-12";

// What a keeper takes on, in their own voice: not the participants' terms
// (a keeper neither withdraws from their own circle nor waits to be let in),
// but the care the role owes to everyone else in it.
const KEEPER_CONSENT: &[Words] = &[
    Words {
        id: "keeper_confidentiality",
        en: "I will keep what is said in this circle confidential, except where someone's safety is at risk or the law requires me to report, and I will tell everyone these limits before we begin.",
        es: "Mantendré la confidencialidad de lo que se diga en este círculo, salvo cuando la seguridad de alguien esté en riesgo o la ley me obligue a informar, y explicaré estos límites a todas las personas antes de empezar.",
        ar: "سأحافظ على سرّية ما يُقال في هذه الدائرة، إلا إذا كانت سلامة أحدٍ في خطر أو كان القانون يُلزمني بالإبلاغ، وسأوضّح هذه الحدود للجميع قبل أن نبدأ.",
    },
    Words {
        id: "keeper_no_recording",
        en: "I will not record this session, and nobody who is not part of the circle will see or hear it from where I am.",
        es: "No grabaré esta sesión, y nadie que no forme parte del círculo la verá ni la oirá desde donde yo esté.",
        ar: "لن أسجّل هذه الجلسة، ولن يراها أو يسمعها من مكاني أحدٌ ليس جزءًا من الدائرة.",
    },
    Words {
        id: "keeper_choice",
        en: "I will respect every person's choice to pass, to ask for a moment, to step out, to leave or to withdraw, without asking them why.",
        es: "Respetaré la decisión de cada persona de pasar, pedir un momento, salir un rato, irse o retirar su consentimiento, sin preguntarle por qué.",
        ar: "سأحترم اختيار كل شخص أن يمرّر الدور، أو يطلب لحظة، أو يخرج قليلًا، أو يغادر، أو يسحب موافقته، دون أن أسأله عن السبب.",
    },
    Words {
        id: "keeper_safety",
        en: "If someone is at risk or the circle is causing harm, I will pause it and follow my programme's safety procedure.",
        es: "Si alguien está en riesgo o el círculo está causando daño, lo pausaré y seguiré el protocolo de seguridad de mi programa.",
        ar: "إذا كان أحدٌ في خطر أو كانت الدائرة تُلحق ضررًا، فسأوقفها مؤقتًا وأتّبع إجراءات السلامة في برنامجي.",
    },
];

// Ids are fixed: reports compare answers to them across rooms.
const QUESTIONS: &[Words] = &[
    Words {
        id: "felt_heard",
        en: "I felt heard.",
        es: "Sentí que me escucharon.",
        ar: "شعرتُ بأن صوتي مسموع.",
    },
    Words {
        id: "felt_safe",
        en: "I felt safe.",
        es: "Me sentí en un lugar seguro.",
        ar: "شعرتُ بالأمان.",
    },
    Words {
        id: "fair_process",
        en: "The way the meeting was run was fair.",
        es: "La forma en que se llevó la reunión fue justa.",
        ar: "كانت طريقة إدارة اللقاء عادلة.",
    },
    Words {
        id: "would_recommend",
        en: "I would recommend this kind of meeting to someone in my situation.",
        es: "Recomendaría este tipo de reunión a alguien en mi situación.",
        ar: "أنصح بهذا النوع من اللقاءات لمن هو في مثل وضعي.",
    },
    Words {
        id: "agreement_satisfaction",
        en: "I am satisfied with what was agreed.",
        es: "Lo que se acordó me parece satisfactorio.",
        ar: "ما تمّ الاتفاق عليه مُرضٍ بالنسبة لي.",
    },
];

impl ConsentTerms {
    /// The terms used when a room is created without its own.
    pub fn standard() -> ConsentTerms {
        ConsentTerms::of(CONSENT_VERSION, CONSENT)
    }

    /// The keepers' terms when a room is created without its own.
    pub fn keeper_standard() -> ConsentTerms {
        ConsentTerms::of(KEEPER_CONSENT_VERSION, KEEPER_CONSENT)
    }

    fn of(version: &str, words: &[Words]) -> ConsentTerms {
        ConsentTerms {
            version: version.into(),
            items: words
                .iter()
                .map(|w| ConsentItem {
                    id: w.id.into(),
                    text: w.en.into(),
                    required: true,
                    translations: w.translations(),
                })
                .collect(),
        }
    }
}

impl Questionnaire {
    /// The questions of a room created without its own.
    pub fn standard() -> Questionnaire {
        Questionnaire {
            questions: QUESTIONS
                .iter()
                .map(|w| Question {
                    id: w.id.into(),
                    text: w.en.into(),
                    translations: w.translations(),
                })
                .collect(),
            free_text: true,
        }
    }
}
