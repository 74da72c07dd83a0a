// The wasm module's API as www/worker.js uses it (src/wasm.rs), declared by hand so that the type
// check (`make test-types`) runs before `make wasm` builds www/pkg/ (whose own minnow.d.ts types the
// JSON-shaped results as `any`). Keep it in step with src/wasm.rs; the e2e test exercises every call.

import type { ExploreResult, ExploreSetting, LayerInfo, LayerWeights, Report, StepInfo } from './report-types.js';
import type { Preset, Recipe } from './state.js';
import type { ModelFileInfo } from './modelfile.js';
import type { Prediction, Samples } from './protocol.js';

/** A training run in progress (`Run` in src/wasm.rs). */
export interface Run {
  /** "cpu" or "gpu". */
  readonly backend: string;
  /** The GPU adapter as wgpu names it ("" on the CPU). */
  readonly adapter: string;
  /** Why the run fell back to the CPU ("" when it did not). */
  readonly backendNote: string;
  readonly totalEpochs: number;
  /** Whether the inputs are 2-D points (the page then draws a decision boundary). */
  readonly is2d: boolean;
  step(n: number): Promise<StepInfo>;
  report(): Promise<Report>;
  layers(): LayerInfo[];
  weights(name: string): Promise<LayerWeights>;
  /** `[xmin, xmax, ymin, ymax]` around the 2-D training points. */
  bounds(): Float32Array;
  points(): { x: Float32Array; y: Uint32Array };
  /** `res·res·classes` probabilities, row-major over (gy, gx, class). */
  decisionGrid(res: number): Promise<Float32Array>;
  /** The model as a .safetensors file. */
  exportModel(): Promise<Uint8Array>;
  /** The trained model under a pruning / quantization setting, measured without retraining; the
   * baseline (the neutral setting) is the run's final model, its quantization (`baseline`) included. */
  explore(setting: Partial<ExploreSetting>, gridRes?: number, weights?: string[]): Promise<ExploreOutcome>;
  /** 2-D runs with stages: the decision grid as trained and after each finished stage. */
  stageGrids(): StageGrid[];
  /** The first `samples` training samples through the GPU and a CPU copy of the model (rejects on a CPU run). */
  parity(samples: number): Promise<Parity>;
  /** One input sample's shape: `[2]`, `[1, 8, 8]`, `[1, 28, 28]`, `[features]`. */
  readonly inputShape: Uint32Array;
  /** Class probabilities for `inputs` (`n` samples): the run's model now, the explorer's snapshot
   * without a setting (`dense`) and under `setting` (`explored`, null without one). */
  predict(inputs: Float32Array, setting?: Partial<ExploreSetting> | null): Promise<Prediction>;
  free(): void;
  /** Test only: holds the run and panics with `message`; never settles (the module traps). */
  __debugPanic(message: string): Promise<never>;
}

/** The largest files the engine takes, in bytes (`limits()` in src/wasm.rs). */
export interface Limits {
  csvBytes: number;
  modelFileBytes: number;
}

/** The quantization the explorer's baseline carries (`QuantSummary` in src/run/session.rs). */
export interface QuantSummary {
  bits: number;
  scheme: 'symmetric' | 'affine';
  granularity: 'per_tensor' | 'per_channel';
  /** Input bit width when activations are quantized too, else null. */
  activation_bits: number | null;
}

/** What `Run.explore` resolves to. */
/** `weights`: the weights asked for, as the setting leaves them (pruned, on the grid when quantized). */
export type ExploreOutcome = ExploreResult & { grid?: Float32Array; baseline: QuantSummary | null; weights?: LayerWeights[] };

/** One small multiple (`StageGrid` in src/run/session.rs). */
export interface StageGrid {
  /** The stage's index in `compression`, null for the model as trained. */
  stage: number | null;
  /** The stage's kind, "trained" for the model as trained. */
  kind: string;
  test_accuracy: number;
  /** Honest bytes: packed integers when quantized, else the cheapest sparse format. */
  bytes: number;
  res: number;
  /** `res·res·classes` probabilities, row-major over (gy, gx, class). */
  grid: Float32Array;
}

/** One batch on both backends (`Parity` in src/run/session.rs). */
export interface Parity {
  samples: number;
  loss_gpu: number;
  loss_cpu: number;
  /** `|loss_gpu − loss_cpu|` */
  loss_diff: number;
  /** `max |z_gpu − z_cpu|` over the batch's logits */
  logits_diff: number;
}

/** The module `www/pkg/minnow.js` (wasm-bindgen `--target web`). */
export interface EngineModule {
  /** Instantiates the wasm (fetches `minnow_bg.wasm` next to the module). */
  default(): Promise<unknown>;
  presets(): Preset[];
  limits(): Limits;
  /** The recipe normalized (defaults filled in); throws an Error naming the bad field. */
  validateRecipe(json: string): Recipe;
  /** The built-in image set the recipe needs and the module does not hold yet. */
  datasetNeeded(json: string): string | undefined;
  provideDataset(name: string, bytes: Uint8Array): void;
  modelFileInfo(bytes: Uint8Array): ModelFileInfo;
  /** `perClass` training samples of each class of a recipe's dataset, without a run (image sets
   * must have been provided first). */
  datasetSamples(json: string, perClass: number): Samples;
  Run: {
    create(json: string, csv?: string): Promise<Run>;
    importModel(bytes: Uint8Array, csv?: string): Promise<Run>;
  };
}
