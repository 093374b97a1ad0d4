//! Fitted models as versioned JSON (no pickle): what `save` writes and `load` accepts.

use serde::{Deserialize, Serialize};

use super::Fit;
use crate::error::{CrmError, Result};

const FORMAT: &str = "crm-model";
const VERSION: u32 = 1;

/// Model names, with their number of parameters.
const MODELS: [(&str, usize); 4] = [
    ("BetaGeo", 4),
    ("ParetoNbd", 4),
    ("ModifiedBetaGeo", 4),
    ("GammaGamma", 3),
];

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Saved {
    pub format: String,
    pub version: u32,
    pub model: String,
    pub penalizer: f64,
    pub fit: Fit,
}

pub fn to_json(model: &str, penalizer: f64, fit: Fit) -> Result<String> {
    parameter_count(model)?;
    let saved = Saved {
        format: FORMAT.to_string(),
        version: VERSION,
        model: model.to_string(),
        penalizer,
        fit,
    };
    serde_json::to_string_pretty(&saved)
        .map_err(|e| CrmError::InvalidArgument(format!("cannot write the model: {e}")))
}

pub fn from_json(text: &str) -> Result<Saved> {
    let unreadable = |why: String| CrmError::InvalidData(format!("not a crm model file: {why}"));
    let saved: Saved = serde_json::from_str(text).map_err(|e| unreadable(e.to_string()))?;
    if saved.format != FORMAT {
        return Err(unreadable(format!("format is '{}'", saved.format)));
    }
    if saved.version != VERSION {
        return Err(CrmError::InvalidData(format!(
            "model file version {} is not supported by this crm (it reads version {VERSION})",
            saved.version
        )));
    }
    let n = parameter_count(&saved.model).map_err(|e| unreadable(e.to_string()))?;
    if saved.fit.params.len() != n || saved.fit.standard_errors.len() != n {
        return Err(unreadable(format!(
            "a {} model has {n} parameters",
            saved.model
        )));
    }
    Ok(saved)
}

fn parameter_count(model: &str) -> Result<usize> {
    MODELS
        .iter()
        .find(|(name, _)| *name == model)
        .map(|&(_, n)| n)
        .ok_or_else(|| CrmError::InvalidArgument(format!("unknown model '{model}'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit() -> Fit {
        Fit {
            params: vec![0.243, 4.414, 0.793, 2.426],
            log_likelihood: -9582.4,
            standard_errors: vec![0.01; 4],
            iterations: 20,
            gradient_norm: 1e-9,
            converged: true,
        }
    }

    #[test]
    fn a_model_round_trips() {
        let text = to_json("BetaGeo", 0.0, fit()).unwrap();
        let back = from_json(&text).unwrap();
        assert_eq!(back.model, "BetaGeo");
        assert_eq!(back.fit.params, fit().params);
    }

    #[test]
    fn other_files_are_refused_with_a_reason() {
        let text = to_json("BetaGeo", 0.0, fit()).unwrap();
        let newer = text.replace("\"version\": 1", "\"version\": 2");
        assert!(from_json(&newer)
            .unwrap_err()
            .to_string()
            .contains("version 2"));
        let short = text.replace("0.793,", "");
        assert!(from_json(&short)
            .unwrap_err()
            .to_string()
            .contains("4 parameters"));
        assert!(from_json("{}").is_err());
        assert!(from_json("not json").is_err());
    }
}
