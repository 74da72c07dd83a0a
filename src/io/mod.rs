//! Files: safetensors model files (PyTorch `state_dict` names, masks, quantization records) written
//! from a run and opened into a new one.

pub mod model_file;
