//! Integration tests for `minnow::data`: determinism, sizes and balance of the generated sets, the
//! embedded digits / MNIST sets, every CSV error message (which must name the line and column),
//! `DatasetSpec::validate` messages and the JSON form of the spec.

use minnow::data::*;

fn spec(name: DatasetName) -> DatasetSpec {
    DatasetSpec::new(name)
}

const GENERATED: [DatasetName; 5] =
    [DatasetName::Spiral, DatasetName::Circles, DatasetName::Xor, DatasetName::Blobs, DatasetName::Moons];

fn class_counts(ds: &Dataset) -> Vec<usize> {
    let mut c = vec![0; ds.classes];
    for &y in ds.train_y.iter().chain(&ds.test_y) {
        c[y as usize] += 1;
    }
    c
}

#[test]
fn same_seed_same_data_other_seed_other_data() {
    for name in GENERATED.into_iter().chain([DatasetName::Digits]) {
        let s = spec(name);
        let a = load(&s, 7, None).unwrap();
        let b = load(&s, 7, None).unwrap();
        let c = load(&s, 8, None).unwrap();
        assert_eq!(a, b, "{name}");
        assert_ne!(a.train_x, c.train_x, "{name}");
    }
}

#[test]
fn generated_sets_are_balanced_sized_and_finite() {
    for name in GENERATED {
        let ks: &[usize] = match name {
            DatasetName::Spiral => &[2, 3, 6],
            DatasetName::Blobs => &[2, 5, 8],
            _ => &[2],
        };
        for &k in ks {
            for &(samples, noise) in &[(600, 0.1), (601, 0.0), (20, 1.0)] {
                let s = DatasetSpec { classes: k, samples, noise, ..spec(name) };
                let ds = load(&s, 3, None).unwrap();
                let what = format!("{name} k={k} n={samples}");
                assert_eq!(ds.name, name.as_str());
                assert_eq!(ds.input_shape, vec![2]);
                assert_eq!(ds.features(), 2);
                assert_eq!(ds.classes, k, "{what}");
                assert_eq!(ds.class_names.len(), k, "{what}");
                assert_eq!(ds.n_train() + ds.n_test(), samples, "{what}");
                assert_eq!(ds.n_test(), (samples as f32 * 0.2).round() as usize, "{what}");
                assert_eq!(ds.train_x.len(), ds.n_train() * 2);
                assert_eq!(ds.test_x.len(), ds.n_test() * 2);
                let counts = class_counts(&ds);
                let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
                assert!(hi - lo <= 1, "{what}: unbalanced {counts:?}");
                assert!(ds.train_x.iter().chain(&ds.test_x).all(|v| v.is_finite()), "{what}");
                assert!(ds.train_y.iter().chain(&ds.test_y).all(|&y| (y as usize) < k));
                if noise <= 0.1 {
                    let m = ds.train_x.iter().chain(&ds.test_x).fold(0f32, |m, v| m.max(v.abs()));
                    assert!(m <= 1.3, "{what}: features reach {m}");
                }
            }
        }
    }
}

#[test]
fn xor_labels_follow_quadrants_without_noise() {
    let s = DatasetSpec { name: DatasetName::Xor, noise: 0.0, ..spec(DatasetName::Xor) };
    let ds = load(&s, 1, None).unwrap();
    for (p, &y) in ds.train_x.chunks(2).zip(&ds.train_y) {
        let same = (p[0] > 0.0) == (p[1] > 0.0);
        assert_eq!(y, if same { 0 } else { 1 });
    }
}

#[test]
fn train_limit_caps_training_set() {
    let s = DatasetSpec { train_limit: Some(50), ..spec(DatasetName::Moons) };
    let ds = load(&s, 1, None).unwrap();
    assert_eq!(ds.n_train(), 50);
    assert_eq!(ds.train_x.len(), 100);
    assert_eq!(ds.n_test(), 120);
}

#[test]
fn digits_shape_and_range() {
    let ds = load(&spec(DatasetName::Digits), 0, None).unwrap();
    assert_eq!(ds.n_train() + ds.n_test(), 1797);
    assert_eq!(ds.n_test(), 359);
    assert_eq!(ds.input_shape, vec![1, 8, 8]);
    assert_eq!(ds.features(), 64);
    assert_eq!(ds.classes, 10);
    assert_eq!(ds.train_x.len(), ds.n_train() * 64);
    assert!(ds.train_x.iter().chain(&ds.test_x).all(|&v| (0.0..=1.0).contains(&v)));
    assert!(ds.train_x.contains(&1.0));
    let counts = class_counts(&ds);
    assert!(counts.iter().all(|&c| (170..=190).contains(&c)), "{counts:?}");
}

#[test]
fn mnist_fixed_split_and_range() {
    let a = load(&spec(DatasetName::Mnist), 0, None).unwrap();
    assert_eq!(a.n_train(), MNIST_TRAIN);
    assert_eq!(a.n_test(), MNIST_TEST);
    assert_eq!((a.n_train(), a.n_test()), (8000, 2000));
    assert_eq!(a.input_shape, vec![1, 28, 28]);
    assert_eq!(a.features(), 784);
    assert_eq!(a.train_x.len(), 8000 * 784);
    assert_eq!(a.test_x.len(), 2000 * 784);
    assert!(a.train_x.iter().chain(&a.test_x).all(|&v| (0.0..=1.0).contains(&v)));
    assert!(a.train_x.contains(&1.0));
    let counts = class_counts(&a);
    assert_eq!(counts.iter().sum::<usize>(), 10_000);
    assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
    let b = load(&spec(DatasetName::Mnist), 1, None).unwrap();
    assert_ne!(a.test_y, b.test_y);
    let s = DatasetSpec { test_fraction: 0.3, ..spec(DatasetName::Mnist) };
    let e = load(&s, 0, None).unwrap_err();
    assert!(e.0.contains("dataset.test_fraction"), "{e}");
}

// ------------------------------------------------------------------------------------------------
// CSV
// ------------------------------------------------------------------------------------------------

fn csv_spec() -> DatasetSpec {
    spec(DatasetName::Csv)
}

fn csv_err(text: &str) -> String {
    csv_err_with(text, &csv_spec())
}

fn csv_err_with(text: &str, s: &DatasetSpec) -> String {
    match parse_csv(text, s, 0) {
        Ok(ds) => panic!("expected an error, got {} rows", ds.n_train() + ds.n_test()),
        Err(e) => e.0,
    }
}

fn iris_like(rows: usize) -> String {
    let mut s = String::from("sepal_length,sepal_width,species\n");
    let names = ["setosa", "versicolor", "virginica"];
    for i in 0..rows {
        s += &format!("{}.{},{}.5,{}\n", 4 + i % 4, i % 10, 2 + i % 3, names[(i * 7) % 3]);
    }
    s
}

#[test]
fn csv_with_header_and_string_labels() {
    let text = "x,y,label\n1,2,b\n3,4,a\n5,6,b\n7,8,c\n9,10,a\n";
    let ds = parse_csv(text, &csv_spec(), 0).unwrap();
    assert_eq!(ds.name, "csv");
    assert_eq!(ds.input_shape, vec![2]);
    assert_eq!(ds.classes, 3);
    assert_eq!(ds.class_names, vec!["b", "a", "c"]); // order of first appearance
    assert_eq!(ds.n_train() + ds.n_test(), 5);
    assert_eq!(ds.n_test(), 1);
    // standardized with the training split's statistics
    for f in 0..2 {
        let col: Vec<f32> = ds.train_x.iter().skip(f).step_by(2).copied().collect();
        let mean = col.iter().sum::<f32>() / col.len() as f32;
        let var = col.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / col.len() as f32;
        assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4, "mean {mean} var {var}");
    }
}

#[test]
fn csv_without_header_integer_labels_keep_numeric_order() {
    let text = "0.5,1,10\r\n0.25,2,2\r\n\r\n0.125,3,10\r\n0.0,4,-1\r\n";
    let ds = parse_csv(text, &csv_spec(), 0).unwrap();
    assert_eq!(ds.n_train() + ds.n_test(), 4);
    assert_eq!(ds.class_names, vec!["-1", "2", "10"]);
    let mut ys: Vec<u32> = ds.train_y.iter().chain(&ds.test_y).copied().collect();
    ys.sort();
    assert_eq!(ys, vec![0, 1, 2, 2]);
}

#[test]
fn csv_label_column_by_name_or_index_and_delimiters() {
    let text = "label;x;y\ncat;1;2\ndog;3;4\ncat;5;7\n";
    let s = DatasetSpec { csv_label_column: Some("label".into()), ..csv_spec() };
    let ds = parse_csv(text, &s, 0).unwrap();
    assert_eq!((ds.features(), ds.classes), (2, 2));
    let s = DatasetSpec { csv_label_column: Some("0".into()), ..csv_spec() };
    assert_eq!(parse_csv(text, &s, 0).unwrap(), ds);
    let json = r#"{"name": "csv", "csv_label_column": 0}"#;
    let s2: DatasetSpec = serde_json::from_str(json).unwrap();
    assert_eq!(s2, s);
    let tabbed = "1\t2\t\"a\"\n3\t4\t\"b\"\n";
    assert_eq!(parse_csv(tabbed, &csv_spec(), 0).unwrap().class_names, vec!["a", "b"]);
    let e = csv_err_with(text, &DatasetSpec { csv_label_column: Some("nope".into()), ..csv_spec() });
    assert!(e.contains("dataset.csv_label_column") && e.contains("line 1"), "{e}");
    let e = csv_err_with(text, &DatasetSpec { csv_label_column: Some("3".into()), ..csv_spec() });
    assert!(e.contains("dataset.csv_label_column") && e.contains("out of range"), "{e}");
    // Found by the long fuzz run: a wide header was listed whole, and a long name echoed whole.
    let wide: Vec<String> = (0..1000).map(|i| format!("{}{i}", "c".repeat(70))).collect();
    let text = format!("{}\n{}\n{}\n", wide.join(","), vec!["1"; 1000].join(","), vec!["2"; 1000].join(","));
    let e = csv_err_with(&text, &DatasetSpec { csv_label_column: Some("x".repeat(10_000)), ..csv_spec() });
    assert!(e.len() < 1200, "a {}-byte message", e.len());
    assert!(e.contains(&format!("{}…", "c".repeat(60))) && e.ends_with(", and 992 more)"), "{e}");
}

#[test]
fn csv_through_load() {
    let text = iris_like(60);
    let s = DatasetSpec { train_limit: Some(10), ..csv_spec() };
    let ds = load(&s, 5, Some(&text)).unwrap();
    assert_eq!((ds.n_train(), ds.n_test()), (10, 12));
    assert_eq!(ds, load(&s, 5, Some(&text)).unwrap());
    let e = load(&csv_spec(), 5, None).unwrap_err();
    assert!(e.0.contains("csv"), "{e}");
    let e = load(&DatasetSpec { classes: 4, ..csv_spec() }, 5, Some(&text)).unwrap_err();
    assert!(e.0.contains("dataset.classes") && e.0.contains("3 distinct"), "{e}");
}

#[test]
fn csv_errors_name_line_and_column() {
    let cases: Vec<(String, &str)> = vec![
        ("".into(), "line 1, column 1"),
        ("\n  \n".into(), "line 1, column 1"),
        ("a,b,c\n".into(), "line 2, column 1"),
        ("a,b,c\n1,2,x\n".into(), "line 2, column 1"),
        ("1\n2\n3\n".into(), "line 1, column 1"),
        ("x,y,l\n1,2,a\n3,4\n5,6,b\n".into(), "line 3, column 3"),
        ("x,y,l\n1,2,a\n3,4,b,9\n".into(), "line 3, column 4"),
        ("x,y,l\n1,2,a\n3,abc,b\n".into(), "line 3, column 2 (\"y\")"),
        ("x,y,l\n1,2,a\n3,NaN,b\n".into(), "line 3, column 2"),
        ("x,y,l\n1,2,a\n3,,b\n".into(), "line 3, column 2"),
        ("x,y,l\n1,2,a\n3,4,\n".into(), "line 3, column 3"),
        ("x,y,l\n1,2,a\n3,4,\"b\n".into(), "line 3, column 3"),
        ("x,y,l\n1,2,a\n\n3,4,a\n5,6,a\n".into(), "lines 2-5, column 3 (\"l\")"),
    ];
    for (text, want) in &cases {
        let e = csv_err(text);
        assert!(e.contains(want), "CSV {text:?}: message {e:?} lacks {want:?}");
    }
    // limits
    let big = "1,2\n".repeat(MAX_CSV_BYTES / 4 + 1);
    let e = csv_err(&big);
    assert!(e.contains("MB"), "{e}");
    let mut many = String::new();
    for i in 0..=MAX_CSV_ROWS {
        many += &format!("{},{}\n", i, i % 2);
    }
    let e = csv_err(&many);
    assert!(e.contains(&format!("line {}, column 1", MAX_CSV_ROWS + 1)), "{e}");
    let wide = vec!["1"; MAX_CSV_FEATURES + 2].join(",") + "\n";
    let e = csv_err(&(wide.clone() + &wide));
    assert!(e.contains(&format!("line 1, column {}", MAX_CSV_FEATURES + 2)), "{e}");
    let mut classes = String::new();
    for i in 0..=MAX_CSV_CLASSES {
        classes += &format!("{i},c{i}\n");
    }
    let e = csv_err(&classes);
    assert!(e.contains(&format!("line {}, column 2", MAX_CSV_CLASSES + 1)), "{e}");
}

// ------------------------------------------------------------------------------------------------
// Spec validation and JSON
// ------------------------------------------------------------------------------------------------

#[test]
fn validate_refuses_out_of_range_fields() {
    let bad: Vec<(DatasetSpec, &str)> = vec![
        (DatasetSpec { noise: 3.0, ..spec(DatasetName::Spiral) }, "dataset.noise = 3: must be in [0, 1]"),
        (DatasetSpec { noise: -0.5, ..spec(DatasetName::Moons) }, "dataset.noise"),
        (DatasetSpec { noise: f32::NAN, ..spec(DatasetName::Moons) }, "dataset.noise"),
        (
            DatasetSpec { samples: 5, ..spec(DatasetName::Circles) },
            "dataset.samples = 5: must be in [20, 100000]",
        ),
        (DatasetSpec { samples: 1_000_000, ..spec(DatasetName::Xor) }, "dataset.samples"),
        (DatasetSpec { classes: 7, ..spec(DatasetName::Spiral) }, "dataset.classes = 7: must be in [2, 6]"),
        (DatasetSpec { classes: 1, ..spec(DatasetName::Spiral) }, "dataset.classes = 1"),
        (DatasetSpec { classes: 9, ..spec(DatasetName::Blobs) }, "dataset.classes = 9: must be in [2, 8]"),
        (DatasetSpec { classes: 3, ..spec(DatasetName::Moons) }, "dataset.classes = 3: must be 2"),
        (DatasetSpec { classes: 5, ..spec(DatasetName::Digits) }, "dataset.classes = 5"),
        (
            DatasetSpec { test_fraction: 0.0, ..spec(DatasetName::Spiral) },
            "dataset.test_fraction = 0: must be in [0.05, 0.5]",
        ),
        (DatasetSpec { test_fraction: 0.9, ..spec(DatasetName::Digits) }, "dataset.test_fraction"),
        (DatasetSpec { test_fraction: 0.25, ..spec(DatasetName::Mnist) }, "dataset.test_fraction = 0.25"),
        (DatasetSpec { train_limit: Some(0), ..spec(DatasetName::Spiral) }, "dataset.train_limit = 0"),
        (DatasetSpec { samples: 100, ..spec(DatasetName::Mnist) }, "dataset.samples = 100"),
        (DatasetSpec { noise: 0.3, ..spec(DatasetName::Digits) }, "dataset.noise = 0.3"),
        (
            DatasetSpec { csv_label_column: Some("y".into()), ..spec(DatasetName::Spiral) },
            "dataset.csv_label_column",
        ),
        (DatasetSpec { csv_label_column: Some(" ".into()), ..csv_spec() }, "dataset.csv_label_column"),
    ];
    for (s, want) in &bad {
        let e = s.validate().unwrap_err();
        assert!(e.0.contains(want), "{s:?}: message {e:?} lacks {want:?}");
        let e = load(s, 0, Some("1,0\n2,1\n")).unwrap_err();
        assert!(e.0.contains(want), "load: {e:?}");
    }
    // drawn needs its points (tests/native/drawn.rs).
    for name in DatasetName::ALL.into_iter().filter(|&n| n != DatasetName::Drawn) {
        spec(name).validate().unwrap();
    }
    DatasetSpec { classes: 10, ..spec(DatasetName::Mnist) }.validate().unwrap();
    DatasetSpec { classes: 6, noise: 1.0, samples: 20, ..spec(DatasetName::Spiral) }.validate().unwrap();
}

#[test]
fn json_defaults_round_trip_and_unknown_fields() {
    let s: DatasetSpec = serde_json::from_str(r#"{"name": "spiral"}"#).unwrap();
    assert_eq!(s, DatasetSpec::default());
    assert_eq!((s.samples, s.noise, s.classes, s.test_fraction), (600, 0.1, 2, 0.2));
    assert_eq!((s.train_limit, s.csv_label_column.clone()), (None, None));
    let s: DatasetSpec =
        serde_json::from_str(r#"{"name": "blobs", "classes": 5, "noise": 0.3, "train_limit": 100}"#).unwrap();
    let back: DatasetSpec = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(back, s);
    for name in DatasetName::ALL {
        let json = format!(r#"{{"name": "{name}"}}"#);
        assert_eq!(serde_json::from_str::<DatasetSpec>(&json).unwrap().name, name);
    }
    let e = serde_json::from_str::<DatasetSpec>(r#"{"name": "spiral", "nosie": 0.2}"#).unwrap_err();
    assert!(e.to_string().contains("nosie"), "{e}");
    assert!(serde_json::from_str::<DatasetSpec>(r#"{"name": "cifar"}"#).is_err());
    assert!(serde_json::from_str::<DatasetSpec>(r#"{"samples": 10}"#).is_err());
}

/// FNV-1a over the f32 bits and labels of a dataset.
fn fingerprint(ds: &Dataset) -> u32 {
    let mut h = 2_166_136_261u32;
    let words = ds.train_x.iter().chain(&ds.test_x).map(|v| v.to_bits());
    for w in words.chain(ds.train_y.iter().chain(&ds.test_y).copied()) {
        for b in w.to_le_bytes() {
            h = (h ^ b as u32).wrapping_mul(16_777_619);
        }
    }
    h
}

/// Generated points are built from IEEE `+ - * / sqrt` only (no libm), so they are bit-identical on
/// every platform; these fingerprints were checked equal on x86_64 Linux and wasm32 (node).
#[test]
fn generated_points_are_pinned() {
    let cases = [
        (DatasetSpec { classes: 3, ..spec(DatasetName::Spiral) }, 42, 0x21ea_57feu32),
        (DatasetSpec { classes: 4, noise: 0.3, ..spec(DatasetName::Blobs) }, 7, 0x2b0b_b4d8),
        (spec(DatasetName::Moons), 0, 0x4f0a_2bf6),
        (spec(DatasetName::Circles), 1, 0x678d_a735),
    ];
    let got: Vec<u32> =
        cases.iter().map(|(s, seed, _)| fingerprint(&load(s, *seed, None).unwrap())).collect();
    let want: Vec<u32> = cases.iter().map(|c| c.2).collect();
    assert_eq!(got, want, "got {got:08x?}");
}
