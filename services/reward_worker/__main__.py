from services.reward_worker.app import create_app
from services.reward_worker.typedefs import SERVICE
from shared.http.main import serve

if __name__ == "__main__":
    serve(SERVICE, create_app, lambda settings: settings.reward_worker_port)
