package faults

// The suite runs the real binary through testenv.Veilig.

// binaryEnv names a veilig binary to use instead of building one (to run the
// suite against a given build); see testenv.BuildVeilig.
const binaryEnv = "VEILIG_FAULTS_BINARY"
