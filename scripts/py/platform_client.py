"""A Python client of the OEF platform service, generated from our protos with grpcio-tools.

Usage: platform_client.py SERVER_ADDRESS API_KEY EXPERIMENT_JSON
  (SERVER_ADDRESS as host:port; the key goes in the x-api-key metadata; EXPERIMENT_JSON is a
  v1 ExperimentFile in proto3 JSON, every value stated, as `oef build --format json` writes it)

Generates the Python modules of protos/oef/v1 into a temporary directory, then: launches an
experiment, launches it again (the same training comes back), cancels it, and watches the
training until its stream ends. Prints one JSON line per step; exits non-zero on any surprise.
"""

import glob
import json
import os
import sys
import tempfile

from grpc_tools import protoc
import grpc_tools

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTOS = os.path.join(ROOT, "protos")


def generate(out):
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    files = sorted(os.path.relpath(p, PROTOS) for p in glob.glob(os.path.join(PROTOS, "oef", "v1", "*.proto")))
    args = ["protoc", f"-I{PROTOS}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}", *files]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for d, _, _ in os.walk(os.path.join(out, "oef")):
        open(os.path.join(d, "__init__.py"), "a").close()
    sys.path.insert(0, out)


def main():
    address, key, experiment_path = sys.argv[1], sys.argv[2], sys.argv[3]
    with tempfile.TemporaryDirectory() as out:
        generate(out)
        import grpc
        from google.protobuf import json_format
        from oef.v1 import file_pb2, platform_pb2, platform_pb2_grpc

        metadata = (("x-api-key", key),)
        with grpc.insecure_channel(address) as channel:
            stub = platform_pb2_grpc.PlatformServiceStub(channel)
            with open(experiment_path) as f:
                experiment_file = json_format.Parse(f.read(), file_pb2.ExperimentFile())
            experiment_file.experiment.seed = 42
            request = platform_pb2.LaunchExperimentRequest(dataset="python", file=experiment_file, tags=["python"])
            first = stub.LaunchExperiment(request, metadata=metadata)
            assert first.created, first
            training_id = first.training.training_id
            print(json.dumps({"launched": training_id, "experiment_id": first.training.experiment_id}))
            again = stub.LaunchExperiment(request, metadata=metadata)
            assert not again.created and again.training.training_id == training_id, again
            print(json.dumps({"relaunched": again.training.training_id, "created": again.created}))

            try:
                stub.GetTraining(platform_pb2.GetTrainingRequest(training_id=training_id))
                raise SystemExit("a call without API key succeeded")
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error
                print(json.dumps({"without_key": error.code().name}))

            stub.CancelTraining(platform_pb2.CancelTrainingRequest(training_id=training_id, reason="python"), metadata=metadata)
            events = []
            for event in stub.WatchTraining(platform_pb2.WatchTrainingRequest(training_id=training_id), metadata=metadata):
                events.append(json_format.MessageToDict(event))
                print(json.dumps({"event": events[-1]}))
            statuses = [e["statusChange"]["toStatus"] for e in events if "statusChange" in e]
            assert statuses == ["TRAINING_STATUS_QUEUED", "TRAINING_STATUS_CANCELLED"], statuses
            print(json.dumps({"ok": True}))


if __name__ == "__main__":
    main()
