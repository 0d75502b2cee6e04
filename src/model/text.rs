//! The text tower: token + position embeddings, a causal transformer, and the final LayerNorm
//! read out at the end-of-text token (`CLIPTextTransformer`).

use burn::module::Param;
use burn::nn::Embedding;
use burn::prelude::*;

use super::encoder::Encoder;
use super::layer_norm::LayerNorm;
use crate::error::{Error, Result};
use crate::tokenizer::TokenBatch;

/// The legacy `eos_token_id` of OpenAI's configs: pool at the highest token id instead.
const LEGACY_EOS_TOKEN_ID: u32 = 2;

#[derive(Module, Debug)]
pub struct TextTransformer {
    pub token_embedding: Embedding,
    pub position_embedding: Param<Tensor<2>>,
    pub encoder: Encoder,
    pub final_layer_norm: LayerNorm,
    #[module(skip)]
    pub eos_token_id: u32,
}

impl TextTransformer {
    /// Pooled output, `[batch, hidden_size]`, before the text projection.
    pub fn forward(&self, tokens: &TokenBatch) -> Result<Tensor<2>> {
        let [vocab_size, _] = self.token_embedding.weight.dims();
        let [max_positions, _] = self.position_embedding.dims();
        let (batch, seq) = (tokens.batch_size(), tokens.seq_len());
        if batch == 0 || seq == 0 {
            return Err(Error::Input("no text to encode".into()));
        }
        if seq > max_positions {
            return Err(Error::Input(format!(
                "{seq} tokens exceed the model's {max_positions} positions"
            )));
        }
        if let Some(&id) = tokens.ids().iter().find(|&&id| id as usize >= vocab_size) {
            return Err(Error::Input(format!(
                "token id {id} is outside the vocabulary of {vocab_size}"
            )));
        }
        let device = self.position_embedding.device();
        let ids: Vec<i64> = tokens.ids().iter().map(|&id| id as i64).collect();
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, seq]), &device);

        let positions = self.position_embedding.val().slice(0..seq).unsqueeze::<3>();
        let x = self.token_embedding.forward(ids) + positions;
        let rows: Vec<usize> = (0..batch)
            .map(|b| self.pooling_position(tokens.row(b)))
            .collect();
        let pooled = self.encoder.forward_rows(x, &rows, true);
        Ok(self.final_layer_norm.forward(pooled))
    }

    /// Where `transformers` reads the sentence embedding: the first end-of-text token, or with
    /// the legacy config the first occurrence of the highest id.
    fn pooling_position(&self, ids: &[u32]) -> usize {
        if self.eos_token_id == LEGACY_EOS_TOKEN_ID {
            let max = ids.iter().copied().max().unwrap_or(0);
            ids.iter().position(|&id| id == max).unwrap_or(0)
        } else {
            ids.iter()
                .position(|&id| id == self.eos_token_id)
                .unwrap_or(0)
        }
    }
}
